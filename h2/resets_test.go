package h2

import "testing"

// TestResetMemory: the ring of reset streams is empty until the first
// reset (and allocates nothing before it), remembers the last 256, and
// forgets an ID the client has ended.
func TestResetMemory(t *testing.T) {
	var r resetMemory
	r.forget(1)
	if r.has(1) || r.has(0) {
		t.Fatal("an empty memory has an ID")
	}
	if r.ring != nil {
		t.Fatal("the ring was allocated before any reset")
	}
	for id := uint32(1); id <= 2*300; id += 2 {
		r.add(id, 100)
	}
	// 300 IDs added: the first 44 (1 ... 87) have been overwritten.
	for _, c := range []struct {
		id   uint32
		want bool
	}{{1, false}, {87, false}, {89, true}, {599, true}, {601, false}, {0, false}} {
		if got := r.has(c.id); got != c.want {
			t.Errorf("has(%d) = %v, want %v", c.id, got, c.want)
		}
	}
	r.forget(301)
	if r.has(301) {
		t.Error("has(301) after forget(301)")
	}
	if !r.has(303) {
		t.Error("forget(301) dropped 303")
	}
}

// TestResetMemoryTake: DATA on a remembered stream fits while it stays
// within the window the stream had at its reset, and no longer after.
func TestResetMemoryTake(t *testing.T) {
	var r resetMemory
	if r.take(1, 1) {
		t.Fatal("take on an empty memory")
	}
	r.add(1, 100)
	r.add(3, -5) // a window driven below zero by SETTINGS: nothing fits
	if !r.take(1, 60) || !r.take(1, 40) {
		t.Fatal("100 bytes did not fit a window of 100")
	}
	if r.take(1, 1) {
		t.Error("a byte beyond the window fitted")
	}
	if r.take(3, 1) {
		t.Error("a byte fitted a negative window")
	}
	if r.take(5, 1) {
		t.Error("take on an ID never added")
	}
}
