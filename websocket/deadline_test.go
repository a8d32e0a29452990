package websocket

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestDeadlineSetAllocs checks that moving a stream's deadline (the
// keepalive pattern: a fresh deadline before every read and write, which
// over HTTP/2 the Conn keeps itself) reuses its timer: no allocation per
// call once the first has made it.
func TestDeadlineSetAllocs(t *testing.T) {
	var d deadline
	d.interrupt = func() {}
	defer d.stop()
	d.set(time.Now().Add(time.Hour))
	if a := testing.AllocsPerRun(200, func() { d.set(time.Now().Add(time.Hour)) }); a != 0 {
		t.Fatalf("%.2f allocations per deadline set, want 0", a)
	}
}

// TestDeadlineMovedTimerFires checks that the reused timer still ends a
// call in progress once the deadline it was moved to passes, and that a
// cleared deadline leaves the call alone.
func TestDeadlineMovedTimerFires(t *testing.T) {
	interrupted := make(chan struct{}, 1)
	var d deadline
	d.interrupt = func() { interrupted <- struct{}{} }
	defer d.stop()
	d.set(time.Now().Add(time.Hour))
	d.set(time.Time{})
	d.set(time.Now().Add(time.Hour))
	if err := d.begin(); err != nil {
		t.Fatal(err)
	}
	d.set(time.Now().Add(5 * time.Millisecond))
	select {
	case <-interrupted:
	case <-time.After(10 * time.Second):
		t.Fatal("a call in progress was not interrupted 10s after its deadline")
	}
	if err := d.end(errors.New("interrupted")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("end: %v, want os.ErrDeadlineExceeded", err)
	}
}
