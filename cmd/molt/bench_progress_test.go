package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBenchProgressPlain checks the progress output when stderr is not a
// terminal: plain lines, one per second, no carriage returns or escapes.
func TestBenchProgressPlain(t *testing.T) {
	m := startMolt(t)
	var stdout, stderr bytes.Buffer
	if err := bench(context.Background(), []string{"-c", "2", "-m", "2", "-d", "2500ms", m.url}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, &stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 {
		t.Errorf("%d progress lines in 2.5s, want 2:\n%s", len(lines), &stderr)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "h2c ") || !strings.Contains(l, " req/s, 0 errors, p99 ") {
			t.Errorf("progress line %q, want mode, requests, req/s, errors and p99", l)
		}
	}
	if strings.ContainsAny(stderr.String(), "\r\033") {
		t.Errorf("terminal control characters in non-terminal output: %q", &stderr)
	}
}

// TestBenchProgressWS checks that ws mode's progress lines count messages,
// not requests.
func TestBenchProgressWS(t *testing.T) {
	m := startMolt(t)
	var stdout, stderr bytes.Buffer
	if err := bench(context.Background(), []string{"-mode", "ws", "-d", "1500ms", strings.TrimSuffix(m.url, "/") + "/ws"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, &stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ws ") || !strings.Contains(lines[0], " messages, ") || !strings.Contains(lines[0], " msg/s, 0 errors, p99 ") {
		t.Errorf("progress %q, want one line of mode ws with messages and msg/s", lines)
	}
}
