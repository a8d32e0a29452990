package router

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestTunnelGuardNoAllocs checks that an accepted tunnel's guard costs
// no allocation per message: a WebSocket registered with Get, the way the
// websocket package documents, writes and flushes through it for every
// message (issue 11: 0 allocations per message in steady state).
func TestTunnelGuardNoAllocs(t *testing.T) {
	rec := httptest.NewRecorder()
	g := &tunnelGuard{ResponseWriter: rec, claim: &tunnelClaim{accepted: true}}
	g.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(g) // as the websocket package holds it
	msg := []byte("a message")
	if a := testing.AllocsPerRun(1000, func() {
		g.Write(msg)
		if err := rc.Flush(); err != nil {
			t.Fatal(err)
		}
		rec.Body.Reset()
	}); a != 0 {
		t.Errorf("%v allocations per write and flush, want 0", a)
	}
}
