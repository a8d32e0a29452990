package middleware_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// earlyHintsGot is what a client saw before the final response.
type earlyHintsGot struct {
	code int
	link []string
	all  textproto.MIMEHeader
}

func TestEarlyHints(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Final", "1")
			w.Write([]byte("page"))
		})
		// outer sets a field before EarlyHints runs: it must reach the
		// final response only, not the 103.
		outer := func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Outer", "1")
				h.ServeHTTP(w, r)
			})
		}
		static := outer(middleware.EarlyHints(middleware.EarlyHintsOptions{
			Links: []string{"</app.css>; rel=preload; as=style", "</app.js>; rel=modulepreload"},
		})(final))
		dynamic := middleware.EarlyHints(middleware.EarlyHintsOptions{
			Links: []string{"</base.css>; rel=preload; as=style"},
			LinksFunc: func(r *http.Request) []string {
				if r.URL.Path == "/none" {
					return nil
				}
				return []string{"</" + strings.TrimPrefix(r.URL.Path, "/") + ".js>; rel=preload; as=script", ""}
			},
		})(final)
		onlyFunc := middleware.EarlyHints(middleware.EarlyHintsOptions{
			LinksFunc: func(r *http.Request) []string {
				if r.URL.Path == "/none" {
					return nil
				}
				return []string{"<https://cdn.example/font.woff2>; rel=preload; as=font; crossorigin"}
			},
		})(final)
		mux := http.NewServeMux()
		mux.Handle("/static/", http.StripPrefix("/static", static))
		mux.Handle("/dynamic/", http.StripPrefix("/dynamic", dynamic))
		mux.Handle("/func/", http.StripPrefix("/func", onlyFunc))
		ts := h2ctest.NewServer(t, mux)
		client := ts.Client(t, mode)

		for _, tc := range []struct {
			name, method, path string
			want               [][]string // the Link fields of each 103
		}{
			{"links", "GET", "/static/", [][]string{{"</app.css>; rel=preload; as=style", "</app.js>; rel=modulepreload"}}},
			{"head gets none", "HEAD", "/static/", nil},
			{"post gets none", "POST", "/static/", nil},
			{"links and func", "GET", "/dynamic/page", [][]string{{"</base.css>; rel=preload; as=style", "</page.js>; rel=preload; as=script"}}},
			{"func returns none", "GET", "/dynamic/none", [][]string{{"</base.css>; rel=preload; as=style"}}},
			{"func only", "GET", "/func/x", [][]string{{"<https://cdn.example/font.woff2>; rel=preload; as=font; crossorigin"}}},
			{"nothing to send", "GET", "/func/none", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var mu sync.Mutex
				var got []earlyHintsGot
				trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					mu.Lock()
					got = append(got, earlyHintsGot{code, h.Values("Link"), h})
					mu.Unlock()
					return nil
				}}
				req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := string(h2ctest.ReadBody(t, resp))
				wantBody := "page"
				if tc.method == "HEAD" {
					wantBody = ""
				}
				if resp.StatusCode != 200 || body != wantBody || resp.Header.Get("X-Final") != "1" {
					t.Fatalf("final response %d %q X-Final %q, want 200 %q 1", resp.StatusCode, body, resp.Header.Get("X-Final"), wantBody)
				}
				if len(resp.Header.Values("Link")) != 0 {
					t.Errorf("final response carries Link %q", resp.Header.Values("Link"))
				}
				mu.Lock()
				defer mu.Unlock()
				if len(got) != len(tc.want) {
					t.Fatalf("%d earlyHintsGot responses %v, want %d", len(got), got, len(tc.want))
				}
				for i, inf := range got {
					if inf.code != http.StatusEarlyHints || !slices.Equal(inf.link, tc.want[i]) {
						t.Errorf("earlyHintsGot %d: %d %q, want 103 %q", i, inf.code, inf.link, tc.want[i])
					}
					for k := range inf.all {
						if k != "Link" {
							t.Errorf("earlyHintsGot %d carries %s: %q", i, k, inf.all[k])
						}
					}
				}
				if strings.HasPrefix(tc.path, "/static/") && resp.Header.Get("X-Outer") != "1" {
					t.Errorf("final response lost X-Outer")
				}
			})
		}
	})
}

// TestEarlyHintsHTTP10 checks that an HTTP/1.0 client, which knows no 1xx
// responses, gets none.
func TestEarlyHintsHTTP10(t *testing.T) {
	h := middleware.EarlyHints(middleware.EarlyHintsOptions{Links: []string{"</a.css>; rel=preload"}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page")) }))
	ts := h2ctest.NewServer(t, h)
	c := ts.Dial(t)
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body := string(h2ctest.ReadBody(t, resp))
	if resp.StatusCode != 200 || body != "page" || resp.Header.Get("Link") != "" {
		t.Errorf("got %d %q Link %q, want 200 \"page\" and no Link", resp.StatusCode, body, resp.Header.Get("Link"))
	}
}

func TestEarlyHintsInvalidLinks(t *testing.T) {
	for _, links := range [][]string{{""}, {"</a>; rel=preload\r\nSet-Cookie: x=1"}} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "middleware: EarlyHints: ") {
					t.Errorf("Links %q: panic %q, want a middleware: EarlyHints: one", links, msg)
				}
			}()
			middleware.EarlyHints(middleware.EarlyHintsOptions{Links: links})
		}()
	}
}
