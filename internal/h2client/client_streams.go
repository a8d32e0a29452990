package h2client

// streamTable holds a connection's streams that are open on the wire, by
// ID. It is a hash table with open addressing on id/2: client stream IDs
// are odd and handed out in order, so the streams in flight mostly sit in
// their own consecutive slots and a lookup reads one. (The Go map it
// replaces, lookups, inserts and deletes with their hashing, was 7% of
// molt bench's CPU against h2o.) Collisions are resolved by Robin Hood
// linear probing (a stream displaced further from its home slot than the
// one it meets takes that slot), so that a run of slots stays in the
// order of its streams' home slots and a removal shifts back only the
// streams displaced behind it: stopping at the first stream in its home
// slot, it is not a walk along every stream in flight. It is kept at most
// half full, grows by doubling and never shrinks. Guarded by the
// connection's mu.
type streamTable struct {
	slots []*clientStream // a power of two of them; nil is free
	n     int
}

// get returns stream id, or nil.
func (t *streamTable) get(id uint32) *clientStream {
	if t.n == 0 {
		return nil
	}
	mask := uint32(len(t.slots) - 1)
	for i := (id >> 1) & mask; ; i = (i + 1) & mask {
		cs := t.slots[i]
		if cs == nil || cs.id == id {
			return cs
		}
	}
}

// put adds cs, replacing a stream with its ID.
func (t *streamTable) put(cs *clientStream) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := uint32(len(t.slots) - 1)
	dist := uint32(0) // of cs from its home slot
	for i := (cs.id >> 1) & mask; ; i, dist = (i+1)&mask, dist+1 {
		old := t.slots[i]
		switch {
		case old == nil:
			t.slots[i] = cs
			t.n++
			return
		case old.id == cs.id: // only the stream put can meet its ID
			t.slots[i] = cs
			return
		}
		if d := (i - old.id>>1) & mask; d < dist {
			t.slots[i], cs, dist = cs, old, d // carry the displaced one on
		}
	}
}

func (t *streamTable) grow() {
	old := t.slots
	t.slots = make([]*clientStream, max(16, 2*len(old)))
	t.n = 0
	for _, cs := range old {
		if cs != nil {
			t.put(cs)
		}
	}
}

// remove removes stream id, if present. The streams displaced behind it
// in its run of slots move back one.
func (t *streamTable) remove(id uint32) {
	if t.n == 0 {
		return
	}
	mask := uint32(len(t.slots) - 1)
	i := (id >> 1) & mask
	for ; t.slots[i] == nil || t.slots[i].id != id; i = (i + 1) & mask {
		if t.slots[i] == nil {
			return
		}
	}
	t.n--
	for {
		j := (i + 1) & mask
		next := t.slots[j]
		if next == nil || (j-next.id>>1)&mask == 0 {
			t.slots[i] = nil
			return
		}
		t.slots[i] = next
		i = j
	}
}

// len returns the number of streams.
func (t *streamTable) len() int { return t.n }

// appendAll appends every stream to dst, in no particular order, and
// returns it: a copy to range over while the table changes.
func (t *streamTable) appendAll(dst []*clientStream) []*clientStream {
	for _, cs := range t.slots {
		if cs != nil {
			dst = append(dst, cs)
		}
	}
	return dst
}
