package h2

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestH2Spec runs h2spec's strict set against a bare Server whose handler
// reads the whole request body before it answers, so that no case depends
// on timing. Every case must pass. h2spec is looked up as $H2SPEC or in
// PATH; without it the test skips (MOLT_REQUIRE_PEERS=1 makes that fail).
func TestH2Spec(t *testing.T) {
	if testing.Short() {
		t.Skip("h2spec takes several seconds")
	}
	path := os.Getenv("H2SPEC")
	if path == "" {
		var err error
		if path, err = exec.LookPath("h2spec"); err != nil {
			if os.Getenv("MOLT_REQUIRE_PEERS") == "1" {
				t.Fatal("h2spec not found")
			}
			t.Skip("h2spec not found")
		}
	}
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, strings.Repeat("ok", 50)) // h2spec skips the flow-control cases with a tiny body
	}))
	host, port, _ := net.SplitHostPort(ts.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-h", host, "-p", port, "-S", "-o", "5").CombinedOutput()
	m := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("h2spec: %v\n%s", err, out)
	}
	t.Logf("h2spec strict: %s", m[0])
	if string(m[4]) != "0" || err != nil {
		failures := out
		if i := bytes.Index(out, []byte("Failures:")); i >= 0 {
			failures = out[i:]
		}
		t.Errorf("h2spec: %v\n%s", err, failures)
	}
}
