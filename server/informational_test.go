package server_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/server"
)

func TestWriteInformationalAfterFinalHeader(t *testing.T) {
	h2ctest.Run(t, testWriteInformationalAfterFinalHeader)
}

// testWriteInformationalAfterFinalHeader checks that WriteInformational
// sends a 1xx before the final response, and fails with
// ErrFinalHeaderWritten, sending nothing, once the final header is
// written: by WriteHeader, by the first Write, or by a Flush, and through
// middleware that wraps the writer.
func testWriteInformationalAfterFinalHeader(t *testing.T, mode h2ctest.Mode) {
	tests := []struct {
		name  string
		final func(w http.ResponseWriter)
	}{
		{"WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(http.StatusAccepted) }},
		{"Write", func(w http.ResponseWriter) { io.WriteString(w, "body") }},
		{"Flush", func(w http.ResponseWriter) { http.NewResponseController(w).Flush() }},
	}
	for _, tt := range tests {
		for _, wrapped := range []bool{false, true} {
			name := tt.name
			if wrapped {
				name += "/through middleware"
			}
			t.Run(name, func(t *testing.T) {
				errs := make(chan [2]error, 1)
				var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					before := server.EarlyHints(w, r, "</before.css>; rel=preload")
					tt.final(w)
					after := server.EarlyHints(w, r, "</after.css>; rel=preload")
					errs <- [2]error{before, after}
				})
				if wrapped {
					h = middleware.Logger(middleware.LoggerOptions{Logger: slog.New(slog.DiscardHandler)})(h)
				}
				ts := h2ctest.NewServer(t, h)
				var mu sync.Mutex
				var hints []string
				trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					mu.Lock()
					defer mu.Unlock()
					hints = append(hints, h.Get("Link"))
					return nil
				}}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", ts.URL+"/", nil)
				resp, err := ts.Client(t, mode).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				h2ctest.ReadBody(t, resp)
				e := <-errs
				if e[0] != nil {
					t.Errorf("EarlyHints before the final header: %v", e[0])
				}
				if !errors.Is(e[1], server.ErrFinalHeaderWritten) {
					t.Errorf("EarlyHints after the final header: %v; want ErrFinalHeaderWritten", e[1])
				}
				mu.Lock()
				defer mu.Unlock()
				if got := strings.Join(hints, ","); got != "</before.css>; rel=preload" {
					t.Errorf("client got 1xx with Link %q; want only the one sent before the final header", got)
				}
			})
		}
	}
}

// TestHTTP2Status101 checks that a handler's 101 Switching Protocols,
// which HTTP/2 does not have (RFC 9113 section 8.6), goes out as 500 with
// no interim response, on both engines (x/net's would send the 101 as a
// 1xx and then a 200), and that the server logs it.
func TestHTTP2Status101(t *testing.T) {
	h2ctest.RunEngines(t, func(t *testing.T, e h2ctest.Engine) {
		var logged strings.Builder
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logged.Write(p)
		}), nil))
		ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusSwitchingProtocols)
			io.WriteString(w, "raw")
		}), h2ctest.WithEngine(e), func(c *server.Config) { c.Logger = logger })
		var infos []int
		req, _ := http.NewRequest("GET", ts.URL+"/", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			Got1xxResponse: func(code int, _ textproto.MIMEHeader) error { infos = append(infos, code); return nil },
		}))
		res, err := ts.Client(t, h2ctest.H2CPrior).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusInternalServerError || len(infos) != 0 {
			t.Errorf("1xx %v, final %d, want none and 500", infos, res.StatusCode)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(logged.String(), "101 Switching Protocols") {
			t.Errorf("no log line for the 101:\n%s", logged.String())
		}
	})
}

// writerFunc is an io.Writer made of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
