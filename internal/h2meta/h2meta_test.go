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
