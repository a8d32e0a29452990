package h2

import (
	"net/http"
	"slices"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestEncodeRepeat checks encodeBlock's reuse of a repeated header block:
// a repeat decodes to the same fields, and a block that changed the
// dynamic table, or a new table size from the peer, makes the next block
// be encoded again.
func TestEncodeRepeat(t *testing.T) {
	sc := &serverConn{}
	sc.henc = hpack.NewEncoder(&sc.hbuf)
	dec := hpack.NewDecoder(DefaultHeaderTableSize, nil)
	decode := func(block []byte) []hpack.HeaderField {
		t.Helper()
		got, err := dec.DecodeFull(block)
		if err != nil {
			t.Fatalf("decoding %x: %v", block, err)
		}
		return got
	}
	a := []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "text/plain"}, {Name: "x-a", Value: "1"}}
	c := []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "x-c", Value: "3"}}
	step := func(name string, fields []hpack.HeaderField, wantRepeat bool) []byte {
		t.Helper()
		block := sc.encodeBlock(fields)
		repeat := len(sc.encRepeatBlock) > 0 && &block[0] == &sc.encRepeatBlock[0]
		if repeat != wantRepeat {
			t.Errorf("%s: block taken from the repeat = %v, want %v", name, repeat, wantRepeat)
		}
		if got := decode(block); !slices.Equal(got, fields) {
			t.Fatalf("%s: decoded %v, want %v", name, got, fields)
		}
		return slices.Clone(block)
	}
	step("first a (adds to the table)", a, false)
	step("second a (indexed: kept)", a, false)
	step("third a", a, true)
	step("c (adds to the table, shifting a's indexes)", c, false)
	step("a after c (encoded again, all indexed now)", a, false)
	step("a again", a, true)

	if err := sc.applySettingWriteLocked(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	block := step("a after SETTINGS_HEADER_TABLE_SIZE 0", a, false)
	if block[0]&0xe0 != 0x20 {
		t.Errorf("block after the table size change begins with %#x, not a dynamic table size update", block[0])
	}
}

// TestSnapshotSorted checks that a header snapshot keeps every field and
// value, nil values included, in key order, and that del and get agree.
func TestSnapshotSorted(t *testing.T) {
	h := http.Header{"Zeta": {"z"}, "Alpha": {"a1", "a2"}, "Date": nil, "Mid": {"m"}}
	s := snapshot(h)
	defer s.release()
	var keys []string
	for _, f := range s.fields {
		keys = append(keys, f.key)
		if !slices.Equal(f.vv, h[f.key]) || (f.vv == nil) != (h[f.key] == nil) {
			t.Errorf("%s: %q, want %q", f.key, f.vv, h[f.key])
		}
	}
	if want := []string{"Alpha", "Date", "Mid", "Zeta"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	if _, ok := s.get("Date"); !ok {
		t.Error("a nil value is not in the snapshot")
	}
	h["Alpha"][0] = "changed"
	if vv := s.values("Alpha"); vv[0] != "a1" {
		t.Errorf("the snapshot shares values with the header: %q", vv)
	}
	s.del("Mid")
	if _, ok := s.get("Mid"); ok || len(s.fields) != 3 {
		t.Errorf("del left %v", s.fields)
	}
}
