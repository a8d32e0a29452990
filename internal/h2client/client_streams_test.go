package h2client

import (
	"math/rand/v2"
	"testing"
)

// TestStreamTable runs random puts and removes, of IDs handed out in order
// as a connection's are and of IDs anywhere, against a map, checking every
// lookup, the count and the listing as it goes; the seeds make slot runs
// wrap around the end of the table and holes open in the middle of them.
func TestStreamTable(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var tab streamTable
		ref := map[uint32]*clientStream{}
		next := uint32(1)
		for step := range 20000 {
			switch r := rng.IntN(10); {
			case r < 4: // a new stream, as Send opens one
				cs := &clientStream{id: next}
				next += 2
				tab.put(cs)
				ref[cs.id] = cs
			case r < 5: // an ID anywhere, or one already there (replaced)
				cs := &clientStream{id: 2*rng.Uint32N(1<<12) + 1}
				tab.put(cs)
				ref[cs.id] = cs
			default: // the end of a stream, mostly one that is there
				id := 2*rng.Uint32N(next/2+1) + 1
				tab.remove(id)
				delete(ref, id)
			}
			if tab.len() != len(ref) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, tab.len(), len(ref))
			}
			for range 4 {
				id := 2*rng.Uint32N(next/2+1) + 1
				if got, want := tab.get(id), ref[id]; got != want {
					t.Fatalf("seed %d step %d: get(%d) = %p, want %p", seed, step, id, got, want)
				}
			}
		}
		all := tab.appendAll(nil)
		if len(all) != len(ref) {
			t.Fatalf("seed %d: appendAll has %d streams, want %d", seed, len(all), len(ref))
		}
		for _, cs := range all {
			if ref[cs.id] != cs {
				t.Fatalf("seed %d: appendAll has stream %d, which is not in the table", seed, cs.id)
			}
			tab.remove(cs.id)
		}
		if tab.len() != 0 || tab.get(1) != nil {
			t.Fatalf("seed %d: %d streams left after removing all", seed, tab.len())
		}
	}
}
