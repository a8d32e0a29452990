package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBenchModes runs molt bench in every mode against molt serve and
// checks the text summary: every request answered 200, none failed.
func TestBenchModes(t *testing.T) {
	m := startMolt(t)
	tests := []struct {
		name string
		args []string
		want []string // substrings of the summary
	}{
		{"h1", []string{"-mode", "h1", "-c", "2", "-n", "200"}, []string{"molt bench h1 ", "200 ok, 0 failed", "status     200: 200"}},
		{"h2c", []string{"-mode", "h2c", "-c", "2", "-m", "4", "-n", "300"}, []string{"molt bench h2c ", "300 ok, 0 failed", "status     200: 300"}},
		{"h2c-upgrade", []string{"-mode", "h2c-upgrade", "-c", "2", "-m", "4", "-n", "300"}, []string{"300 ok, 0 failed", "to 101     min", "to first   min", "status     200: 300"}},
		{"upgrade-every", []string{"-mode", "h2c-upgrade", "-upgrade-every", "-c", "2", "-n", "50"}, []string{"50 ok, 0 failed", "(50 connections set up)", "to 101", "n=50)"}},
		{"h2c body", []string{"-mode", "h2c", "-m", "2", "-n", "20", "-method", "POST", "-body", "hello"}, []string{"20 ok, 0 failed", "body 100 B"}},
		{"h1 body", []string{"-mode", "h1", "-n", "20", "-method", "POST", "-body", "hello", "-H", "X-A: b"}, []string{"20 ok, 0 failed", "body 100 B"}},
		{"open loop", []string{"-mode", "h2c", "-c", "2", "-m", "2", "-rate", "200", "-n", "40"}, []string{"open loop at 200 req/s", "40 ok, 0 failed", "  from send  min "}},
		{"compare", []string{"-compare", "h1,h2c,h2c-upgrade", "-c", "2", "-m", "2", "-n", "100"}, []string{"molt bench -compare", "\nh1 ", "\nh2c ", "\nh2c-upgrade "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			path := "/"
			if slices.Contains(tt.args, "-body") {
				path = "/echo"
			}
			err := bench(context.Background(), append(tt.args, strings.TrimSuffix(m.url, "/")+path), &stdout, &stderr)
			if err != nil {
				t.Fatalf("bench %v: %v\nstderr:\n%s", tt.args, err, &stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("summary lacks %q:\n%s", w, &stdout)
				}
			}
		})
	}
}

// TestBenchSetupErrors checks that a server that cannot be used is reported
// with the step that failed and an error (a non-zero exit), not counted as
// failed requests.
func TestBenchSetupErrors(t *testing.T) {
	noUpgrade := startMolt(t, "-no-h2c-upgrade")
	noPrior := startMolt(t, "-no-h2c-prior")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	tests := []struct {
		name, mode, url string
		want            string
	}{
		{"unreachable", "h2c", closed, "connect: dial tcp"},
		{"unreachable h1", "h1", closed, "connect: dial tcp"},
		{"upgrade declined", "h2c-upgrade", noUpgrade.url, "declined the h2c upgrade: it answered HTTP/1.1 200 OK"},
		{"no prior knowledge", "h2c", noPrior.url, "HTTP/2 preface refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := bench(context.Background(), []string{"-mode", tt.mode, "-n", "10", "-timeout", "5s", tt.url}, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("bench -mode %s %s: %v, want an error containing %q", tt.mode, tt.url, err, tt.want)
			}
		})
	}
}

func TestBenchBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "exactly one URL"},
		{[]string{"-mode", "h3", "http://127.0.0.1:1/"}, `mode "h3"`},
		{[]string{"-mode", "ws", "-body", "x", "http://127.0.0.1:1/"}, "-method and -body do not apply"},
		{[]string{"-mode", "ws", "-ws-size", "0", "http://127.0.0.1:1/"}, "-ws-size must be"},
		{[]string{"-mode", "ws", "-ws-size", "16777217", "http://127.0.0.1:1/"}, "-ws-size must be"},
		{[]string{"-mode", "h2c", "-ws-h2", "http://127.0.0.1:1/"}, "apply to mode ws"},
		{[]string{"-mode", "h2c", "-ws-h2-upgrade", "http://127.0.0.1:1/"}, "apply to mode ws"},
		{[]string{"-mode", "h1", "-ws-size", "10", "http://127.0.0.1:1/"}, "apply to mode ws"},
		{[]string{"-c", "0", "http://127.0.0.1:1/"}, "-c and -m"},
		{[]string{"-n", "5", "-d", "1s", "http://127.0.0.1:1/"}, "not both"},
		{[]string{"-n", "-5", "http://127.0.0.1:1/"}, "-n must be positive"},
		{[]string{"-upgrade-every", "-mode", "h2c", "http://127.0.0.1:1/"}, "-upgrade-every applies"},
		{[]string{"-body", "@/nonexistent/file", "http://127.0.0.1:1/"}, "-body"},
		{[]string{"-H", "novalue", "http://127.0.0.1:1/"}, "Name: value"},
		{[]string{"-n", "1", "https://127.0.0.1:1/"}, "cleartext only"},
		{[]string{"-mode", "h2c", "-compare", "h1", "http://127.0.0.1:1/"}, "not both"},
		{[]string{"-rate", "-1", "-n", "1", "http://127.0.0.1:1/"}, "rate"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := bench(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("bench %v: %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

// TestBenchJSON checks the documented JSON schema (docs/bench.md): the
// field names and types, and that the figures are consistent.
func TestBenchJSON(t *testing.T) {
	m := startMolt(t)
	var stdout, stderr bytes.Buffer
	if err := bench(context.Background(), []string{"-json", "-mode", "h2c-upgrade", "-c", "2", "-m", "2", "-n", "100", m.url}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, &stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, &stdout)
	}
	quantileFields := []string{"count", "min_us", "mean_us", "p50_us", "p90_us", "p99_us", "p99.9_us", "max_us"}
	schema := map[string]string{
		"mode": "string", "url": "string", "connections": "number", "streams": "number",
		"elapsed_s": "number", "requests": "number", "errors": "number", "requests_per_s": "number",
		"body_bytes": "number", "header_bytes": "number", "bytes_per_s": "number", "connects": "number",
		"latency": "quantiles", "ttfb": "quantiles", "upgrade": "object", "status": "object", "errors_by_kind": "object",
	}
	for name, typ := range schema {
		v, ok := doc[name]
		if !ok {
			t.Errorf("field %q missing", name)
			continue
		}
		switch typ {
		case "string":
			if _, ok := v.(string); !ok {
				t.Errorf("%s = %v, want a string", name, v)
			}
		case "number":
			if _, ok := v.(float64); !ok {
				t.Errorf("%s = %v, want a number", name, v)
			}
		case "object", "quantiles":
			obj, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s = %v, want an object", name, v)
			}
			if typ == "quantiles" {
				for _, f := range quantileFields {
					if _, ok := obj[f].(float64); !ok {
						t.Errorf("%s.%s missing or not a number", name, f)
					}
				}
			}
		}
	}
	for name := range doc {
		if _, ok := schema[name]; !ok && name != "error_samples" && name != "rate" && name != "latency_from_send" {
			t.Errorf("undocumented field %q", name)
		}
	}
	up, _ := doc["upgrade"].(map[string]any)
	for _, k := range []string{"to_101", "to_first_response"} {
		q, _ := up[k].(map[string]any)
		if q["count"] != float64(2) {
			t.Errorf("upgrade.%s.count = %v, want 2 (one per connection)", k, q["count"])
		}
	}
	if doc["requests"] != float64(100) || doc["mode"] != "h2c-upgrade" {
		t.Errorf("requests %v mode %v, want 100 h2c-upgrade", doc["requests"], doc["mode"])
	}
	if st, _ := doc["status"].(map[string]any); st["200"] != float64(100) {
		t.Errorf("status = %v, want 200: 100", doc["status"])
	}
	lat, _ := doc["latency"].(map[string]any)
	if !(lat["min_us"].(float64) <= lat["p50_us"].(float64) && lat["p50_us"].(float64) <= lat["p99_us"].(float64) && lat["p99_us"].(float64) <= lat["max_us"].(float64)) {
		t.Errorf("latency quantiles out of order: %v", lat)
	}
	if _, ok := doc["rate"]; ok {
		t.Errorf("rate = %v in a closed loop, want it left out", doc["rate"])
	}

	// The open loop's two fields: the target rate, and the latency from
	// each request's write beside the one from its due time.
	stdout.Reset()
	if err := bench(context.Background(), []string{"-json", "-mode", "h2c", "-c", "1", "-rate", "400", "-n", "40", m.url}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, &stderr)
	}
	doc = nil
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, &stdout)
	}
	if doc["rate"] != float64(400) {
		t.Errorf("rate = %v, want 400", doc["rate"])
	}
	fs, _ := doc["latency_from_send"].(map[string]any)
	for _, f := range quantileFields {
		if _, ok := fs[f].(float64); !ok {
			t.Errorf("latency_from_send.%s missing or not a number: %v", f, doc["latency_from_send"])
		}
	}
	if fs["count"] != float64(40) {
		t.Errorf("latency_from_send.count = %v, want 40", fs["count"])
	}
}

// TestBenchHTML checks that -html writes a self-contained report: the
// summary table and an SVG plot with two lines per mode (latency, and
// time to first byte dashed), and nothing that a
// browser would fetch (no src, href, url() or @import).
func TestBenchHTML(t *testing.T) {
	m := startMolt(t)
	file := filepath.Join(t.TempDir(), "report.html")
	var stdout, stderr bytes.Buffer
	if err := bench(context.Background(), []string{"-compare", "h1,h2c", "-c", "2", "-n", "200", "-html", file, m.url}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, &stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{"<!DOCTYPE html>", "<svg", "<td>h1</td>", "<td>h2c</td>", "99.9%", "<code>molt bench -compare"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(page, "<polyline"); n != 4 {
		t.Errorf("%d plotted lines, want 4 (latency and ttfb per mode)", n)
	}
	if n := strings.Count(page, `stroke-dasharray=`); n != 2 {
		t.Errorf("%d dashed lines, want 2 (ttfb per mode)", n)
	}
	for _, want := range []string{">h1 ttfb</text>", ">h2c ttfb</text>"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks the legend %q", want)
		}
	}
	for _, fetch := range []string{" src=", " href=", "url(", "@import", "<script", "<link"} {
		if strings.Contains(page, fetch) {
			t.Errorf("report contains %q: it must not fetch anything", fetch)
		}
	}
}

// TestBenchCompareJSON checks that -compare with -json prints an array of
// reports, one per mode in the order given.
func TestBenchCompareJSON(t *testing.T) {
	m := startMolt(t)
	var stdout, stderr bytes.Buffer
	if err := bench(context.Background(), []string{"-json", "-compare", "h2c-upgrade,h1", "-n", "20", m.url}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, &stderr)
	}
	var docs []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &docs); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, &stdout)
	}
	if len(docs) != 2 || docs[0]["mode"] != "h2c-upgrade" || docs[1]["mode"] != "h1" {
		t.Errorf("got %d reports %v, want h2c-upgrade then h1", len(docs), docs)
	}
}
