package h2meta

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"unsafe"
	"weak"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestEmptyLastFragmentUnhooksSplit splits a field beyond keepSplit
// across a HEADERS frame and a CONTINUATION frame that completes it
// exactly, then ends the block with an empty CONTINUATION frame (legal,
// one frame, within any flood budget), or with one byte. After the
// empty one, the HPACK decoder's last Write was still from the large
// split buffer (Write(nil) does not replace its reference): the buffer
// must be unreachable all the same once the block is done.
func TestEmptyLastFragmentUnhooksSplit(t *testing.T) {
	for _, last := range []string{"empty", "one byte"} {
		t.Run(last, func(t *testing.T) {
			var b bytes.Buffer
			e := hpack.NewEncoder(&b)
			e.WriteField(hpack.HeaderField{Name: "x-long", Value: strings.Repeat("v", 64<<10), Sensitive: true})
			if last == "one byte" {
				e.WriteField(hpack.HeaderField{Name: "accept-encoding", Value: "gzip, deflate"}) // static entry 16: one byte
			}
			block := bytes.Clone(b.Bytes())
			tail := len(block)
			if last == "one byte" {
				tail--
			}
			d := NewDecoder(4096, 0)
			hf := &http2.HeadersFrame{FrameHeader: http2.FrameHeader{StreamID: 1}}
			if _, err := d.assemble(hf, block[:100], false); err != nil {
				t.Fatal(err)
			}
			if _, err := d.assemble(nil, block[100:tail], false); err != nil {
				t.Fatal(err)
			}
			if len(d.split) != 0 || cap(d.split) <= keepSplit {
				t.Fatalf("split %d/%d: the field did not end at the fragment's end", len(d.split), cap(d.split))
			}
			buf := weak.Make(unsafe.SliceData(d.split))
			f, err := d.assemble(nil, block[tail:], true)
			if err != nil {
				t.Fatal(err)
			}
			if fs := f.(*http2.MetaHeadersFrame).Fields; len(fs) == 0 || len(fs[0].Value) != 64<<10 {
				t.Fatalf("fields %d", len(fs))
			}
			d.Release()
			runtime.GC()
			if buf.Value() != nil {
				t.Errorf("the split buffer (%d bytes) is still reachable after the block: the HPACK decoder refers to it", 64<<10)
			}
			runtime.KeepAlive(d)
		})
	}
}

// TestPaddedLengthsSplit sends one field whose name and value are
// maxStr bytes long, their lengths written with integers padded by zero
// continuation bytes (10 bytes each, which RFC 7541 does not forbid),
// all but its last byte in the first fragment. It decodes as the whole
// block does: hpack.Decoder fed the fragments would refuse it (it saves
// no more than 2*(maxStr+8) bytes of a field), but the split field is
// bounded all the same, by its two strings of at most maxStr and their
// integers of at most ten bytes.
func TestPaddedLengthsSplit(t *testing.T) {
	padded := func(b []byte, n int) []byte { // 7-bit prefix, 9 continuation bytes
		v := n - 127
		b = append(b, 0x7f)
		for range 8 {
			b = append(b, byte(v&0x7f)|0x80)
			v >>= 7
		}
		return append(b, byte(v))
	}
	field := []byte{0x00} // literal without indexing, literal name
	field = padded(field, fuzzMaxStr)
	field = append(field, strings.Repeat("n", fuzzMaxStr)...)
	field = padded(field, fuzzMaxStr)
	field = append(field, strings.Repeat("v", fuzzMaxStr)...)
	blocks := [][][]byte{{field[:len(field)-1], field[len(field)-1:]}}
	want, wantErr := decodeWhole(blocks)
	got, gotErr := decodeSplit(t, blocks)
	if wantErr != nil || gotErr != nil {
		t.Fatalf("error %v, whole %v (a field of %d bytes)", gotErr, wantErr, len(field))
	}
	if len(got) != 1 || len(got[0]) != 2 || got[0][1] != want[0][1] {
		t.Fatalf("fields %d, want the field", len(got))
	}
}
