package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/server"
)

// TestJunkFirstLineIsClosedUnanswered checks that a connection whose first
// bytes are neither the HTTP/2 preface nor the start of an HTTP/1.x
// request line is closed without a byte written: a 400 would be read as
// an HTTP/2 frame header by a client that meant HTTP/2 (h2spec http2/3.5/2).
// With prior knowledge disabled there is no sniff and net/http answers.
func TestJunkFirstLineIsClosedUnanswered(t *testing.T) {
	junk := []string{
		"INVALID CONNECTION PREFACE\r\n\r\n", // h2spec http2/3.5/2
		"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // TLS
		"GET /\r\n\r\n", // HTTP/0.9
	}
	t.Run("sniffing", func(t *testing.T) {
		ts := h2ctest.NewServer(t, describe, func(c *server.Config) { c.ReadHeaderTimeout = time.Hour })
		for _, in := range junk {
			c := ts.Dial(t)
			c.SetDeadline(time.Now().Add(maxWait))
			if _, err := io.WriteString(c, in); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if len(got) != 0 || (err != nil && !isReset(err)) {
				t.Errorf("after %q: read %q, %v; want a close with nothing written", in, got, err)
			}
		}
		if got := ts.Stats().SniffFailures; got != int64(len(junk)) {
			t.Errorf("SniffFailures = %d, want %d", got, len(junk))
		}
		// The server still serves whoever comes next, in every mode.
		h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
			resp, err := ts.Client(t, mode).Get(ts.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			if body := string(h2ctest.ReadBody(t, resp)); resp.StatusCode != 200 || !strings.HasPrefix(body, string(mode)) {
				t.Errorf("got %s %q", resp.Status, body)
			}
		})
	})
	t.Run("DisableH2CPrior", func(t *testing.T) {
		ts := h2ctest.NewServer(t, describe, func(c *server.Config) { c.DisableH2CPrior = true })
		resp, _ := rawRoundTrip(t, ts, junk[0])
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("got %s, want net/http's 400", resp.Status)
		}
	})
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// TestPlausibleFirstLinesReachNetHTTP checks that HTTP/1.x request lines,
// however they arrive, are replayed to net/http unchanged, with the sniff
// on and off: lines sent a byte at a time within ReadHeaderTimeout, PRI
// requests on HTTP/1.1 that share the preface's first bytes, pipelined
// requests, and lines whose start is plausible but whose rest net/http
// refuses with 400.
func TestPlausibleFirstLinesReachNetHTTP(t *testing.T) {
	tests := []struct {
		name    string
		parts   []string // written one after the other
		status  []int    // the responses, in order
		bodyHas string   // in the first response's body
	}{
		{"one write", []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, []int{200}, "h1 HTTP/1.1 GET"},
		{"byte at a time", strings.Split("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", ""), []int{200}, "h1 HTTP/1.1 PUT upgrade=\"\" body=2"},
		{"PRI on HTTP/1.1", []string{"PRI * HTTP/1.1\r\nHost: x\r\n\r\n"}, []int{200}, "h1 HTTP/1.1 PRI"},
		{"PRI on HTTP/1.1 bytewise", strings.Split("PRI * HTTP/1.1\r\nHost: x\r\n\r\n", ""), []int{200}, "h1 HTTP/1.1 PRI"},
		{"PRIX", []string{"PRIX / HTTP/1.1\r\nHost: x\r\n\r\n"}, []int{200}, "h1 HTTP/1.1 PRIX"},
		{"PRI on HTTP/1.0", []string{"PRI", " * HTTP/1.0\r\n\r\n"}, []int{200}, "h1 HTTP/1.0 PRI"},
		{"pipelined", []string{"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.0\r\n\r\n"}, []int{200, 200, 200}, "h1 HTTP/1.1 GET"},
		{"long target", []string{"GET /" + strings.Repeat("a", 5000) + " HTTP/1.1\r\nHost: x\r\n\r\n"}, []int{200}, "h1 HTTP/1.1 GET"},
		{"bad version", []string{"GET / HTTP/1.x\r\nHost: x\r\n\r\n"}, []int{400}, ""},
		{"bad header", []string{"GET / HTTP/1.1\r\nHost x\r\n\r\n"}, []int{400}, ""},
		{"no Host", []string{"GET / HTTP/1.1\r\n\r\n"}, []int{400}, ""},
	}
	for _, prior := range []bool{true, false} {
		t.Run(fmt.Sprintf("sniffing=%v", prior), func(t *testing.T) {
			ts := h2ctest.NewServer(t, describe, func(c *server.Config) {
				c.ReadHeaderTimeout = maxWait
				c.DisableH2CPrior = !prior
			})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := ts.Dial(t)
					c.SetDeadline(time.Now().Add(maxWait))
					for _, p := range tt.parts {
						if _, err := io.WriteString(c, p); err != nil {
							t.Fatal(err)
						}
						if len(tt.parts) > 1 {
							time.Sleep(time.Millisecond) // let each part arrive on its own
						}
					}
					br := bufio.NewReader(c)
					for i, want := range tt.status {
						req := &http.Request{Method: "GET"}
						if strings.Contains(tt.name, "pipelined") && i == 1 {
							req.Method = "HEAD"
						}
						resp, err := http.ReadResponse(br, req)
						if err != nil {
							t.Fatalf("response %d: %v", i+1, err)
						}
						body := string(h2ctest.ReadBody(t, resp))
						if resp.StatusCode != want || (i == 0 && !strings.Contains(body, tt.bodyHas)) {
							t.Errorf("response %d: %s %q, want %d with %q", i+1, resp.Status, body, want, tt.bodyHas)
						}
					}
				})
			}
		})
	}
}
