package h2meta

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzMaxStr is the longest string the decoders of FuzzSplitFields
// accept: twice keepSplit, so that a split field may outgrow the buffer
// a Decoder keeps.
const fuzzMaxStr = 2 * keepSplit

// fragments cuts block into fragments whose sizes the bytes of cuts
// give (c*c/8 + 1: from 1 to 8,129 bytes, small ones likelier), the last
// one taking the rest.
func fragments(block, cuts []byte) [][]byte {
	var frags [][]byte
	for _, c := range cuts {
		if len(block) == 0 {
			break
		}
		n := min(int(c)*int(c)/8+1, len(block))
		frags = append(frags, block[:n])
		block = block[n:]
	}
	return append(frags, block)
}

// decodeWhole decodes the header blocks, each a list of fragments, with
// hpack.Decoder given each block in one Write: what a block means,
// however it is cut. It returns the fields of each block, and the error
// that ended decoding, if any.
func decodeWhole(blocks [][][]byte) ([][]string, error) {
	var out [][]string
	var cur []string
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) { cur = append(cur, f.Name, f.Value) })
	dec.SetMaxStringLength(fuzzMaxStr)
	for _, frags := range blocks {
		cur = nil
		if _, err := dec.Write(bytes.Join(frags, nil)); err != nil {
			return append(out, cur), err
		}
		if err := dec.Close(); err != nil {
			return append(out, cur), err
		}
		out = append(out, cur)
	}
	return out, nil
}

// decodeSplit decodes the same blocks through Decoder.write, and fails
// t if write gives the HPACK decoder part of a field, or keeps a buffer
// for split fields beyond keepSplit once a block is complete.
func decodeSplit(t *testing.T, blocks [][][]byte) ([][]string, error) {
	var out [][]string
	var cur []string
	d := &Decoder{maxStr: fuzzMaxStr}
	d.hdec = hpack.NewDecoder(4096, func(f hpack.HeaderField) { cur = append(cur, f.Name, f.Value) })
	d.hdec.SetMaxStringLength(fuzzMaxStr)
	var done [][]byte // the blocks decoded so far
	for _, frags := range blocks {
		cur = nil
		var block []byte
		for i, frag := range frags {
			ended := i == len(frags)-1
			block = append(block, frag...)
			// The fragment is the caller's only for the call.
			frag = bytes.Clone(frag)
			err := d.write(frag, ended)
			for j := range frag {
				frag[j] = 0xa5
			}
			if err != nil {
				return append(out, cur), err
			}
			if !ended {
				wholeOnly(t, done, block[:len(block)-len(d.split)])
			}
		}
		if len(d.split) != 0 || cap(d.split) > keepSplit {
			t.Fatalf("after the block: %d bytes of a split field, a buffer of %d", len(d.split), cap(d.split))
		}
		err := d.hdec.Close()
		if err == nil && d.unhook {
			d.unhookSplit()
		}
		if err != nil {
			return append(out, cur), err
		}
		out = append(out, cur)
		done = append(done, block)
	}
	return out, nil
}

// wholeOnly fails t if the start of a header block that write has given
// the HPACK decoder ends inside a field: decoded by a decoder of its own
// after the blocks before it, it leaves the decoder something to save,
// which Close reports.
func wholeOnly(t *testing.T, before [][]byte, given []byte) {
	t.Helper()
	dec := hpack.NewDecoder(4096, func(hpack.HeaderField) {})
	dec.SetMaxStringLength(fuzzMaxStr)
	for _, b := range before {
		dec.Write(b)
		dec.Close()
	}
	if _, err := dec.Write(given); err != nil {
		return // the HPACK decoder found it wrong, in whole or in part
	}
	if err := dec.Close(); err != nil {
		t.Fatalf("the HPACK decoder was given part of a field: %x", given)
	}
}

// FuzzSplitFields checks that giving the HPACK decoder whole fields only
// changes nothing: a header block cut into fragments anywhere, and a
// second block after it (each a slice of bytes, hostile or not), decode
// to the same fields and fail at the same point as when hpack.Decoder is
// given each block whole, with the HPACK state carried from block to
// block. (hpack.Decoder fed the fragments differs from both in one
// corner: it refuses a split field of more than 2*(maxStr+8) bytes,
// which integers padded with zero continuation bytes can reach within
// maxStr a string; see TestPaddedLengthsSplit.)
func FuzzSplitFields(f *testing.F) {
	enc := func(fields ...hpack.HeaderField) []byte {
		var b bytes.Buffer
		e := hpack.NewEncoder(&b)
		for _, hf := range fields {
			e.WriteField(hf)
		}
		return b.Bytes()
	}
	req := []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/"}, {Name: "accept", Value: "*/*"}}
	long := strings.Repeat("long value ", 700) // 7,700 bytes: beyond keepSplit
	f.Add(enc(req...), []byte{1, 2, 3}, enc(req...))
	f.Add(enc(append(req, hpack.HeaderField{Name: "x-long", Value: long})...), []byte{200, 5, 255}, []byte{0x3f, 0xe1, 0x1f, 0x82}) // then a table size update and :method GET
	f.Add(enc(hpack.HeaderField{Name: "x-long", Value: long, Sensitive: true}), []byte{255, 255}, enc(req...))
	f.Add([]byte{0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, []byte{3}, enc(req...)) // an overflowing string length
	f.Add([]byte{0x40, 0x7f, 0xff, 0x7f}, []byte{1, 1}, enc(req...))                                              // a name longer than allowed
	f.Add([]byte{0x82, 0x04, 0x05}, []byte{1}, enc(req...))                                                       // truncated at the end
	f.Fuzz(func(t *testing.T, first, cuts, second []byte) {
		blocks := [][][]byte{fragments(first, cuts), {second}}
		want, wantErr := decodeWhole(blocks)
		got, gotErr := decodeSplit(t, blocks)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("error %v, want %v", gotErr, wantErr)
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("fields\n%q\nwant\n%q", got, want)
		}
	})
}

// TestSplitFieldsEveryCut decodes a block of every kind of field
// representation, cut into two fragments at every byte and into
// fragments of every size up to its length, with and without the
// decoder's table in use, and wants what a decoder fed the whole block
// gets.
func TestSplitFieldsEveryCut(t *testing.T) {
	var b bytes.Buffer
	e := hpack.NewEncoder(&b)
	e.SetMaxDynamicTableSizeLimit(4096)
	e.SetMaxDynamicTableSize(2048) // a table size update in front
	for _, hf := range []hpack.HeaderField{
		{Name: ":method", Value: "GET"},                   // indexed
		{Name: ":path", Value: "/a/b?c=d"},                // indexed name, incremental indexing
		{Name: "x-new", Value: "first"},                   // new name, incremental indexing
		{Name: "x-new", Value: "first"},                   // indexed, from the dynamic table
		{Name: "cookie", Value: "s=1", Sensitive: true},   // never indexed, a name index of two bytes
		{Name: "cookie", Value: "a=b"},                    // incremental indexing, name index 32
		{Name: "x-new", Value: "second"},                  // a name from the dynamic table
		{Name: "x-long", Value: strings.Repeat("é", 200)}, // a length of two bytes, no Huffman gain
	} {
		e.WriteField(hf)
	}
	block := bytes.Clone(b.Bytes())
	b.Reset()
	e.WriteField(hpack.HeaderField{Name: "x-new", Value: "first"})
	e.WriteField(hpack.HeaderField{Name: ":path", Value: "/a/b?c=d"})
	next := b.Bytes() // two fields of the dynamic table
	whole, err := decodeWhole([][][]byte{{block}, {next}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, frags [][]byte) {
		got, err := decodeSplit(t, [][][]byte{frags, {next}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.EqualFunc(got, whole, slices.Equal) {
			t.Fatalf("%s: fields %q, want %q", name, got, whole)
		}
	}
	for i := range len(block) + 1 {
		check(fmt.Sprintf("cut at %d", i), [][]byte{block[:i], block[i:]})
	}
	for n := 1; n <= len(block); n++ {
		var frags [][]byte
		for rest := block; len(rest) > 0; rest = rest[min(n, len(rest)):] {
			frags = append(frags, rest[:min(n, len(rest))])
		}
		check(fmt.Sprintf("fragments of %d", n), frags)
	}
}

// TestSplitFieldRefusedAtOnce gives a Decoder the first fragment of a
// header block that a hostile peer would go on with for as long as it
// was let: a field whose string is longer than the decoder takes, or
// whose integer overflows. write refuses it there, and keeps nothing of
// it, rather than keeping fragments for a field it will refuse.
func TestSplitFieldRefusedAtOnce(t *testing.T) {
	long := []byte{0x00, 0x7f} // a literal name of 127 + ... bytes
	long = binaryVarint(long, fuzzMaxStr+1-127)
	for _, tc := range []struct {
		name string
		frag []byte
	}{
		{"a name longer than allowed", long},
		{"a value longer than allowed", binaryVarint([]byte{0x04, 0x7f}, fuzzMaxStr+1-127)},
		// Nine bytes that go on: 63 bits, the most hpack.Decoder takes.
		{"a name index that overflows", []byte{0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"a string length that overflows", []byte{0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Decoder{maxStr: fuzzMaxStr}
			d.hdec = hpack.NewDecoder(4096, func(hpack.HeaderField) {})
			d.hdec.SetMaxStringLength(fuzzMaxStr)
			if err := d.write(tc.frag, false); err == nil {
				t.Fatalf("no error; %d bytes kept for the rest of the field", len(d.split))
			}
			if len(d.split) != 0 {
				t.Fatalf("%d bytes kept", len(d.split))
			}
		})
	}
}

// binaryVarint appends the continuation bytes of an HPACK integer whose
// prefix is full, for the value v beyond the prefix.
func binaryVarint(b []byte, v int) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// TestUnhookKeepsState splits a field larger than keepSplit across two
// fragments, so that the HPACK decoder was last given the Decoder's
// split buffer, and decodes the next block through a Decoder: it starts
// with a dynamic table size update, which the HPACK decoder takes only
// as the first thing of a block, and refers to an entry the first block
// added.
func TestUnhookKeepsState(t *testing.T) {
	var b bytes.Buffer
	e := hpack.NewEncoder(&b)
	e.WriteField(hpack.HeaderField{Name: "x-a", Value: "1"}) // into the table
	e.WriteField(hpack.HeaderField{Name: "x-long", Value: strings.Repeat("v", 2*keepSplit), Sensitive: true})
	first := bytes.Clone(b.Bytes())
	b.Reset()
	e.SetMaxDynamicTableSize(1024)
	e.WriteField(hpack.HeaderField{Name: "x-a", Value: "1"})
	second := b.Bytes()
	if second[0]&0xe0 != 0x20 {
		t.Fatalf("the second block does not start with a table size update: %x", second)
	}

	d := NewDecoder(4096, 0)
	if _, err := d.assemble(&http2.HeadersFrame{FrameHeader: http2.FrameHeader{StreamID: 1}}, first[:keepSplit], false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.assemble(nil, first[keepSplit:], true); err != nil {
		t.Fatal(err)
	}
	if cap(d.split) > keepSplit || d.unhook {
		t.Fatalf("a split buffer of %d bytes kept, unhook %v", cap(d.split), d.unhook)
	}
	f, err := d.assemble(&http2.HeadersFrame{FrameHeader: http2.FrameHeader{StreamID: 3, Flags: http2.FlagHeadersEndHeaders}}, second, true)
	if err != nil {
		t.Fatalf("the block after: %v", err)
	}
	if fs := f.(*http2.MetaHeadersFrame).Fields; len(fs) != 1 || fs[0].Name != "x-a" || fs[0].Value != "1" {
		t.Fatalf("the block after: %v", fs)
	}
}

// BenchmarkSplitFieldDribble decodes a field of 16 KiB sent one byte of
// header block per fragment (CONTINUATION frame), through a Decoder and,
// side by side, through hpack.Decoder fed the fragments, which copies
// the whole split field again for each one.
func BenchmarkSplitFieldDribble(b *testing.B) {
	var buf bytes.Buffer
	hpack.NewEncoder(&buf).WriteField(hpack.HeaderField{Name: "x-long", Value: strings.Repeat("v", 16<<10), Sensitive: true})
	block := buf.Bytes()
	b.Run("Decoder", func(b *testing.B) {
		d := &Decoder{maxStr: 1 << 20}
		d.hdec = hpack.NewDecoder(4096, func(hpack.HeaderField) {})
		d.hdec.SetMaxStringLength(1 << 20)
		for b.Loop() {
			for i := range block {
				if err := d.write(block[i:i+1], i == len(block)-1); err != nil {
					b.Fatal(err)
				}
			}
			if err := d.hdec.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hpack", func(b *testing.B) {
		dec := hpack.NewDecoder(4096, func(hpack.HeaderField) {})
		dec.SetMaxStringLength(1 << 20)
		for b.Loop() {
			for i := range block {
				if _, err := dec.Write(block[i : i+1]); err != nil {
					b.Fatal(err)
				}
			}
			if err := dec.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
