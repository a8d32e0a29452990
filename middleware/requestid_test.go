package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// generatedRequestID matches the IDs of the default generator.
var generatedRequestID = regexp.MustCompile(`^[0-9a-f]{16}-[0-9]+$`)

// requestIDEcho answers with the ID that RequestIDFrom gives.
var requestIDEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, middleware.RequestIDFrom(r.Context()))
})

// An acceptable incoming ID is kept; anything else is replaced by a
// generated one, which is set on the response and seen by the handler.
func TestRequestID(t *testing.T) { h2ctest.Run(t, testRequestID) }

func testRequestID(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, middleware.RequestID(middleware.RequestIDOptions{})(requestIDEcho))
	c := ts.Client(t, mode)
	max := strings.Repeat("a", 128)
	tests := []struct {
		name     string
		incoming []string
		want     string // "" means a generated ID
	}{
		{"none", nil, ""},
		{"kept", []string{"abc-123"}, "abc-123"},
		{"visible ASCII", []string{"!~\"#{}/"}, "!~\"#{}/"},
		{"128 bytes", []string{max}, max},
		{"129 bytes", []string{max + "a"}, ""},
		{"space inside", []string{"a b"}, ""},
		{"tab inside", []string{"a\tb"}, ""},
		{"non-ASCII", []string{"caf\u00e9"}, ""},
		{"obs-text", []string{"a\xffb"}, ""},
		{"two fields", []string{"one", "two"}, ""},
		{"log injection", []string{`x" level=ERROR msg="forged`}, ""},
	}
	for _, tc := range tests {
		req, err := http.NewRequest("GET", ts.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header["X-Request-Id"] = tc.incoming
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		seen := string(h2ctest.ReadBody(t, resp))
		got := resp.Header.Values("X-Request-Id")
		if len(got) != 1 || got[0] != seen {
			t.Errorf("%s: response X-Request-Id %q, handler saw %q", tc.name, got, seen)
			continue
		}
		switch {
		case tc.want != "" && seen != tc.want:
			t.Errorf("%s: ID %q, want %q kept", tc.name, seen, tc.want)
		case tc.want == "" && !generatedRequestID.MatchString(seen):
			t.Errorf("%s: ID %q, want a generated one", tc.name, seen)
		}
	}
}

// Hostile values that no client sends over the wire reach RequestID
// through a handler chain all the same: control characters, CR LF.
func TestRequestIDHostile(t *testing.T) {
	h := middleware.RequestID(middleware.RequestIDOptions{})(requestIDEcho)
	for _, v := range []string{"", "a\x00b", "a\r\nX-Evil: 1", "\x7f", "a\x1bb", " lead", "trail "} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Request-Id", v)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if id := w.Body.String(); !generatedRequestID.MatchString(id) || w.Header().Get("X-Request-Id") != id {
			t.Errorf("incoming %q: ID %q, header %q; want one generated ID", v, id, w.Header().Get("X-Request-Id"))
		}
	}
}

func TestRequestIDOptions(t *testing.T) { h2ctest.Run(t, testRequestIDOptions) }

func testRequestIDOptions(t *testing.T, mode h2ctest.Mode) {
	var n int
	var mu sync.Mutex
	gen := func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("gen-%d", n)
	}
	tests := []struct {
		name     string
		opts     middleware.RequestIDOptions
		send     [2]string // header field and value
		field    string    // of the response
		want     string
		wantGen  bool
		absentID string // a field the response must not have
	}{
		{"custom header", middleware.RequestIDOptions{Header: "x-correlation-id"}, [2]string{"X-Correlation-Id", "corr-1"}, "X-Correlation-Id", "corr-1", false, "X-Request-Id"},
		{"other header ignored", middleware.RequestIDOptions{Header: "X-Correlation-Id"}, [2]string{"X-Request-Id", "rid-1"}, "X-Correlation-Id", "", true, "X-Request-Id"},
		{"ignore incoming", middleware.RequestIDOptions{IgnoreIncoming: true, Generate: gen}, [2]string{"X-Request-Id", "rid-1"}, "X-Request-Id", "gen-1", false, ""},
		{"custom generator", middleware.RequestIDOptions{Generate: gen}, [2]string{"X-Other", "x"}, "X-Request-Id", "gen-2", false, ""},
	}
	for _, tc := range tests {
		ts := h2ctest.NewServer(t, middleware.RequestID(tc.opts)(requestIDEcho))
		req, _ := http.NewRequest("GET", ts.URL+"/", nil)
		req.Header.Set(tc.send[0], tc.send[1])
		resp, err := ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		seen := string(h2ctest.ReadBody(t, resp))
		got := resp.Header.Get(tc.field)
		if got != seen || tc.wantGen && !generatedRequestID.MatchString(got) || !tc.wantGen && got != tc.want {
			t.Errorf("%s: %s %q, handler saw %q; want %q (generated: %v)", tc.name, tc.field, got, seen, tc.want, tc.wantGen)
		}
		if tc.absentID != "" && resp.Header.Get(tc.absentID) != "" {
			t.Errorf("%s: response has %s", tc.name, tc.absentID)
		}
	}
}

// Generated IDs are distinct, also when made concurrently.
func TestRequestIDUnique(t *testing.T) {
	h := middleware.RequestID(middleware.RequestIDOptions{})(requestIDEcho)
	const goroutines, each = 8, 500
	ids := make(chan string, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
				ids <- w.Body.String()
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] || !generatedRequestID.MatchString(id) {
			t.Fatalf("ID %q repeated or malformed", id)
		}
		seen[id] = true
	}
}

func TestRequestIDFromWithout(t *testing.T) {
	if id := middleware.RequestIDFrom(httptest.NewRequest("GET", "/", nil).Context()); id != "" {
		t.Errorf("RequestIDFrom without RequestID: %q", id)
	}
}

func TestRequestIDBadOptions(t *testing.T) {
	for _, name := range []string{"X Request Id", "X-Id:", "Ünicode"} {
		func() {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.HasPrefix(msg, "middleware: RequestID: ") {
					t.Errorf("Header %q: panic %q, want one starting with %q", name, msg, "middleware: RequestID: ")
				}
			}()
			middleware.RequestID(middleware.RequestIDOptions{Header: name})
		}()
	}
}
