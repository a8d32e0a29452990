package h2meta

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// block encodes fields, name and value pairs, with a fresh encoder.
func block(fields ...string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return b.Bytes()
}

var request = []string{":method", "GET", ":scheme", "http", ":authority", "a.test", ":path", "/"}

// read writes the header block as HEADERS and CONTINUATION frames of at
// most split bytes, reads them back with a Framer and assembles them.
func read(t *testing.T, d *Decoder, blk []byte, split int) (*http2.MetaHeadersFrame, error) {
	t.Helper()
	var wire bytes.Buffer
	fr := http2.NewFramer(&wire, &wire)
	first := true
	for first || len(blk) > 0 {
		frag := blk[:min(split, len(blk))]
		blk = blk[len(frag):]
		if first {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: frag, EndStream: true, EndHeaders: len(blk) == 0})
		} else {
			fr.WriteContinuation(1, len(blk) == 0, frag)
		}
		first = false
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("framer: %v", err)
		}
		mf, err := d.Assemble(f)
		if err != nil {
			return nil, err
		}
		if mf != nil {
			return mf.(*http2.MetaHeadersFrame), nil
		}
	}
}

func TestAssemble(t *testing.T) {
	long := strings.Repeat("v", 300)
	for _, tc := range []struct {
		name    string
		fields  []string
		maxList uint32
		split   int
		code    http2.ErrCode // 0: no error
		conn    bool          // a connection error, not a stream error
		trunc   bool
	}{
		{name: "request", fields: append(request, "accept", "*/*"), split: 1 << 20},
		{name: "in CONTINUATION frames", fields: append(request, "x-long", long), split: 7},
		{name: "uppercase name", fields: append(request, "Accept", "x"), split: 1 << 20, code: http2.ErrCodeProtocol},
		{name: "invalid value", fields: append(request, "x", "a\nb"), split: 1 << 20, code: http2.ErrCodeProtocol},
		{name: "pseudo after regular", fields: append(append([]string{}, request[:6]...), "accept", "x", ":path", "/"), split: 1 << 20, code: http2.ErrCodeProtocol},
		{name: "duplicate pseudo", fields: append(request, ":path", "/"), split: 1 << 20, code: http2.ErrCodeProtocol},
		{name: "unknown pseudo", fields: append(request, ":x", "1"), split: 1 << 20, code: http2.ErrCodeProtocol},
		{name: "request and response pseudo", fields: append(request, ":status", "200"), split: 1 << 20, code: http2.ErrCodeProtocol},
		{name: "invalid, then CONTINUATION", fields: append([]string{"Bad", "x"}, append(request, "x-long", long)...), split: 4, code: http2.ErrCodeProtocol, conn: true},
		{name: "beyond the list size", fields: append(request, "x-a", long[:60], "x-b", long[:60], "x-c", long[:60]), maxList: 200, split: 1 << 20, trunc: true},
		{name: "a string beyond the list size", fields: append(request, "x-long", long), maxList: 200, split: 1 << 20, code: http2.ErrCodeCompression, conn: true},
		// The two budgets' sum does not wrap around in uint32.
		{name: "list size 2^31", fields: append(request, "accept", "*/*"), maxList: 1 << 31, split: 1 << 20},
		{name: "list size 2^32-1", fields: append(request, "accept", "*/*"), maxList: 1<<32 - 1, split: 1 << 20},
		{name: "far beyond the list size", fields: append(request, "x-long", long+long+long), maxList: 200, split: 1 << 20, code: http2.ErrCodeProtocol, conn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(4096, tc.maxList)
			mh, err := read(t, d, block(tc.fields...), tc.split)
			var se http2.StreamError
			var ce http2.ConnectionError
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("error %v", err)
			case tc.code != 0 && tc.conn:
				if !errors.As(err, &ce) || http2.ErrCode(ce) != tc.code {
					t.Fatalf("error %v, want connection error %v", err, tc.code)
				}
			case tc.code != 0:
				if !errors.As(err, &se) || se.Code != tc.code || se.StreamID != 1 || se.Cause == nil {
					t.Fatalf("error %v, want stream error %v on stream 1 with a cause", err, tc.code)
				}
			}
			if tc.code != 0 {
				if d.ErrorDetail() == nil {
					t.Error("no ErrorDetail")
				}
				return
			}
			if mh.Truncated != tc.trunc {
				t.Fatalf("Truncated %v, want %v", mh.Truncated, tc.trunc)
			}
			if tc.trunc {
				return
			}
			var got []string
			for _, f := range mh.Fields {
				got = append(got, f.Name, f.Value)
			}
			if strings.Join(got, "\x00") != strings.Join(tc.fields, "\x00") {
				t.Fatalf("fields %q, want %q", got, tc.fields)
			}
			if !mh.StreamEnded() || mh.StreamID != 1 {
				t.Fatalf("stream %d, ended %v", mh.StreamID, mh.StreamEnded())
			}
		})
	}
}

// TestAssembleReuse decodes blocks one after another with one Decoder and
// one encoder (the dynamic table carries over): each block's fields are
// its own, and a block after an invalid one decodes.
func TestAssembleReuse(t *testing.T) {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	d := NewDecoder(4096, 0)
	for i, fields := range [][]string{
		append(request, "x-one", "1", "x-two", "2"),
		append(request, "Bad", "x"),
		append(request, "x-three", "3"),
	} {
		b.Reset()
		for j := 0; j+1 < len(fields); j += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[j], Value: fields[j+1]})
		}
		mh, err := read(t, d, b.Bytes(), 1<<20)
		if i == 1 {
			if err == nil {
				t.Fatal("invalid block accepted")
			}
			continue
		}
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if n := len(mh.Fields); n != len(fields)/2 {
			t.Fatalf("block %d: %d fields, want %d", i, n, len(fields)/2)
		}
	}
}

// TestAssembleBadHPACK checks that an undecodable block is a connection
// COMPRESSION_ERROR.
func TestAssembleBadHPACK(t *testing.T) {
	d := NewDecoder(4096, 0)
	_, err := read(t, d, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff}, 1<<20) // an index beyond any table
	var ce http2.ConnectionError
	if !errors.As(err, &ce) || http2.ErrCode(ce) != http2.ErrCodeCompression {
		t.Fatalf("error %v, want COMPRESSION_ERROR", err)
	}
}

// TestAssembleRepeat checks the repeat of an indexed-only block: decoded
// once, answered from the repeat while the dynamic table cannot have
// changed, and decoded again once a block may have changed it (a literal
// added to the table shifts every index, a table size update evicts).
// Every result is compared with a fresh hpack.Decoder fed the same blocks.
func TestAssembleRepeat(t *testing.T) {
	var eb bytes.Buffer
	enc := hpack.NewEncoder(&eb)
	encode := func(fields ...string) []byte {
		eb.Reset()
		for i := 0; i+1 < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return bytes.Clone(eb.Bytes())
	}
	resp := []string{":status", "200", "server", "h2o", "x-a", "1"}
	first := encode(resp...)      // literals, added to the table
	indexed := encode(resp...)    // now all indexed
	changes := encode("x-b", "2") // a literal added: every dynamic index shifts
	enc.SetMaxDynamicTableSizeLimit(0)
	evicts := encode(":status", "200") // a table size update to 0, then a static index
	steps := []struct {
		blk    []byte
		repeat bool // answered from the repeat
	}{
		{first, false},
		{indexed, false}, // decoded, then kept as the repeat
		{indexed, true},
		{indexed, true},
		{changes, false},
		{indexed, false}, // same bytes, other fields now: x-b shifted the indices
		{indexed, true},
		{evicts, false},
	}
	if !tableNeutral(indexed) || tableNeutral(first) || tableNeutral(changes) || tableNeutral(evicts) {
		t.Fatal("tableNeutral misjudges the test's blocks")
	}
	ref := hpack.NewDecoder(4096, nil)
	d := NewDecoder(4096, 0)
	for i, st := range steps {
		want, err := ref.DecodeFull(st.blk)
		if err != nil {
			t.Fatalf("step %d: reference decoder: %v", i, err)
		}
		before := d.repeats
		mf, err := read(t, d, st.blk, len(st.blk)+1)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := d.repeats - before; got != map[bool]uint64{false: 0, true: 1}[st.repeat] {
			t.Errorf("step %d: answered from the repeat %d times, want %v", i, got, st.repeat)
		}
		if len(mf.Fields) != len(want) {
			t.Fatalf("step %d: %v, want %v", i, mf.Fields, want)
		}
		for j := range want {
			if mf.Fields[j].Name != want[j].Name || mf.Fields[j].Value != want[j].Value {
				t.Fatalf("step %d: %v, want %v", i, mf.Fields, want)
			}
		}
	}
	if d.repeats == 0 {
		t.Fatal("the repeat was never used")
	}

	// A block split into HEADERS and CONTINUATION is decoded every time.
	d = NewDecoder(4096, 0)
	ref = hpack.NewDecoder(4096, nil)
	for _, blk := range [][]byte{first, indexed, indexed} {
		ref.DecodeFull(blk)
		if _, err := read(t, d, blk, 1); err != nil {
			t.Fatal(err)
		}
	}
	if d.repeats != 0 {
		t.Errorf("split blocks answered from the repeat %d times, want 0", d.repeats)
	}
}

// TestTableNeutral checks the parse of representations that leave the
// table alone, on blocks from x/net's encoder and on hand-made ones.
func TestTableNeutral(t *testing.T) {
	sensitive := func(fields ...string) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for i := 0; i+1 < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1], Sensitive: true})
		}
		return b.Bytes()
	}
	long := strings.Repeat("v", 300) // a multi-byte string length
	for _, tc := range []struct {
		name string
		blk  []byte
		want bool
	}{
		{"h2o's repeat: indexed, then content-length without indexing", []byte{0x88, 0xc3, 0xc2, 0xc1, 0xc0, 0xbf, 0xbe, 0x0f, 0x0d, 0x01, 0x35}, true},
		{"never indexed, static and literal names", sensitive(":status", "200", "x-long", long, "content-length", "5"), true},
		{"a multi-byte index", []byte{0xff, 0x81, 0x01}, true},
		{"empty", nil, false},
		{"incremental indexing", block("x-a", "1"), false},
		{"table size update", []byte{0x20, 0x88}, false},
		{"index cut short", []byte{0xff, 0x81}, false},
		{"string longer than the block", []byte{0x0f, 0x0d, 0x05, 0x35}, false},
		{"literal name cut short", []byte{0x00, 0x03, 'a'}, false},
	} {
		if got := tableNeutral(tc.blk); got != tc.want {
			t.Errorf("%s (% x): %v, want %v", tc.name, tc.blk, got, tc.want)
		}
	}
}

// TestRepeatKeepsLittle checks that the repeat keeps no large block: the
// server's read loop holds no buffer of an idle connection, and a client
// should not make each of its connections hold a copy of its largest
// header block (up to the frame size, 16 MiB at most) and the strings
// decoded from it. A small block between still repeats.
func TestRepeatKeepsLittle(t *testing.T) {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	small := []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-length", Value: "5", Sensitive: true}}
	for _, f := range small {
		enc.WriteField(f)
	}
	smallBlk := bytes.Clone(b.Bytes())
	b.Reset()
	enc.WriteField(hpack.HeaderField{Name: "x-big", Value: strings.Repeat("v", 10000), Sensitive: true})
	big := bytes.Clone(b.Bytes())
	if !tableNeutral(big) || !tableNeutral(smallBlk) {
		t.Fatal("the test's blocks change the table")
	}
	d := NewDecoder(4096, 0)
	for _, blk := range [][]byte{smallBlk, big, big} {
		if _, err := read(t, d, blk, len(blk)+1); err != nil {
			t.Fatal(err)
		}
	}
	kept := cap(d.repeatBlock)
	for _, f := range d.repeatFields {
		kept += len(f.Value)
	}
	if kept > 1024 {
		t.Errorf("the decoder keeps %d bytes for the repeat after a %d-byte block", kept, len(big))
	}
	before := d.repeats
	if _, err := read(t, d, smallBlk, len(smallBlk)+1); err != nil {
		t.Fatal(err)
	}
	if d.repeats != before+1 {
		t.Error("the small block is not answered from the repeat after a large one")
	}
}
