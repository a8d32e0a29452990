package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchWS runs molt bench -mode ws against molt serve's /ws on both
// engines, over HTTP/1.1 and with -ws-h2 (RFC 8441 over h2c), and checks
// the summary: every message echoed, one handshake per connection.
func TestBenchWS(t *testing.T) {
	for _, engine := range []string{"xnet", "h2"} {
		t.Run(engine, func(t *testing.T) {
			m := startMolt(t, "-engine", engine)
			tests := []struct {
				name string
				args []string
				want []string
			}{
				{"h1", []string{"-c", "2", "-n", "200"}, []string{"molt bench ws ", "HTTP/1.1, 2 connections x 1 in flight, messages of 64 bytes, closed loop", "200 echoed, 0 failed", "(2 connections set up)", "handshake  min", "n=2)", "handshakes 101: 2"}},
				{"h1 pipelined", []string{"-c", "2", "-m", "8", "-ws-size", "1024", "-n", "400"}, []string{"2 connections x 8 in flight, messages of 1024 bytes", "400 echoed, 0 failed", "handshakes 101: 2"}},
				{"h2", []string{"-ws-h2", "-c", "2", "-m", "4", "-n", "200"}, []string{"RFC 8441 over h2c, 2 connections x 4 in flight", "200 echoed, 0 failed", "handshakes 200: 2"}},
				{"h2 reached by upgrade", []string{"-ws-h2-upgrade", "-c", "2", "-m", "4", "-n", "200"}, []string{"RFC 8441 over h2c reached by Upgrade, 2 connections x 4 in flight", "200 echoed, 0 failed", "handshakes 200: 2"}},
				{"h2 open loop", []string{"-ws-h2", "-c", "2", "-rate", "400", "-n", "40"}, []string{"open loop at 400 msg/s", "40 echoed, 0 failed"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var stdout, stderr bytes.Buffer
					args := append([]string{"-mode", "ws"}, tt.args...)
					if err := bench(context.Background(), append(args, strings.TrimSuffix(m.url, "/")+"/ws"), &stdout, &stderr); err != nil {
						t.Fatalf("bench %v: %v\nstderr:\n%s", args, err, &stderr)
					}
					for _, w := range tt.want {
						if !strings.Contains(stdout.String(), w) {
							t.Errorf("summary lacks %q:\n%s", w, &stdout)
						}
					}
				})
			}
		})
	}
}

// TestBenchWSRefused checks that a URL that is not a WebSocket echo
// (molt serve's /, a plain handler) is reported with what went wrong and
// an error, which main turns into a non-zero exit. Over HTTP/1.1 the
// handshake gets a 200 instead of a 101. Over HTTP/2 the router answers
// the extended CONNECT that reached a plain GET route 501 (a 200 would
// tell the client that the WebSocket is open).
func TestBenchWSRefused(t *testing.T) {
	m := startMolt(t)
	for _, h2 := range []bool{false, true} {
		args := []string{"-mode", "ws", "-n", "10", "-timeout", "5s"}
		want := "bench ws: setting up the first connection failed: the server declined the WebSocket: websocket: dial: server did not switch protocols (200 OK)"
		if h2 {
			args = append(args, "-ws-h2")
			want = "bench ws: setting up the first connection failed: the server declined the WebSocket: websocket: dial: server refused the extended CONNECT (501 Not Implemented)"
		}
		var stdout, stderr bytes.Buffer
		err := bench(context.Background(), append(args, m.url), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bench %v: %v, want an error containing %q", args, err, want)
		}
		if stdout.Len() != 0 {
			t.Errorf("a report was printed for a refused WebSocket:\n%s", &stdout)
		}
	}
}

// TestBenchWSJSON checks the JSON report of ws mode: the mode, the
// websocket object with its handshake quantiles, the handshake statuses.
// It also writes the HTML report, which must carry the handshake table.
func TestBenchWSJSON(t *testing.T) {
	m := startMolt(t)
	file := filepath.Join(t.TempDir(), "ws.html")
	var stdout, stderr bytes.Buffer
	if err := bench(context.Background(), []string{"-json", "-html", file, "-mode", "ws", "-ws-h2", "-ws-size", "100", "-c", "2", "-m", "2", "-n", "100", strings.TrimSuffix(m.url, "/") + "/ws"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, &stderr)
	}
	var doc struct {
		Mode      string            `json:"mode"`
		Requests  float64           `json:"requests"`
		BodyBytes float64           `json:"body_bytes"`
		Status    map[string]uint64 `json:"status"`
		TTFB      map[string]any    `json:"ttfb"`
		WebSocket *struct {
			HTTP2       bool           `json:"http2"`
			H2CUpgrade  *bool          `json:"h2c_upgrade"`
			MessageSize int            `json:"message_size"`
			Handshake   map[string]any `json:"handshake"`
		} `json:"websocket"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, &stdout)
	}
	if doc.Mode != "ws" || doc.Requests != 100 || doc.BodyBytes != 100*100 || doc.Status["200"] != 2 {
		t.Errorf("mode %q, %v messages, %v bytes, status %v; want ws, 100, 10000, 200: 2", doc.Mode, doc.Requests, doc.BodyBytes, doc.Status)
	}
	ws := doc.WebSocket
	if ws == nil || !ws.HTTP2 || ws.H2CUpgrade == nil || *ws.H2CUpgrade || ws.MessageSize != 100 || ws.Handshake["count"] != float64(2) {
		t.Fatalf("websocket = %+v, want http2, h2c_upgrade false, message_size 100, 2 handshakes", ws)
	}
	for _, f := range []string{"min_us", "p50_us", "p99_us", "max_us"} {
		if _, ok := ws.Handshake[f].(float64); !ok {
			t.Errorf("websocket.handshake.%s missing", f)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "WebSocket handshake (RFC 8441 over h2c, messages of 100 bytes") {
		t.Errorf("HTML report lacks the WebSocket handshake table")
	}
}
