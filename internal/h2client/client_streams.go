package h2client

// streamTable holds a connection's streams that are open on the wire, by
// ID. It is a hash table with open addressing on id/2: client stream IDs
// are odd and handed out in order, so the streams in flight mostly sit in
// consecutive slots and a lookup reads one. (The Go map it replaces,
// lookups, inserts and deletes with their hashing, was 7% of molt bench's
// CPU against h2o.) It is kept at most half full, grows by doubling and
// never shrinks. Guarded by the connection's mu.
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
	for i := (cs.id >> 1) & mask; ; i = (i + 1) & mask {
		switch old := t.slots[i]; {
		case old == nil:
			t.slots[i] = cs
			t.n++
			return
		case old.id == cs.id:
			t.slots[i] = cs
			return
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

// remove removes stream id, if present. The streams after it in its run
// of slots move back to fill the hole, so that no lookup stops short.
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
	t.slots[i] = nil
	t.n--
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask {
		// The stream at j may fill the hole at i if i lies on its probe
		// path, from its home slot to j.
		if home := (t.slots[j].id >> 1) & mask; (j-home)&mask >= (j-i)&mask {
			t.slots[i], t.slots[j] = t.slots[j], nil
			i = j
		}
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
