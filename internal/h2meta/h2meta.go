// Package h2meta assembles HTTP/2 header blocks (a HEADERS frame and its
// CONTINUATION frames) into an http2.MetaHeadersFrame, for a read loop on
// http2.Framer with ReadMetaHeaders left nil. It checks the fields the way
// the Framer does with ReadMetaHeaders set (field names and values,
// pseudo-header fields before regular ones, unknown, duplicate and mixed
// pseudo-header fields, the header list size with trailers counted
// apart, a fragment far beyond what is left of the list), but reuses the
// frame, its field slice and the HPACK decoder's callback from one header
// block to the next: the Framer's own assembly allocates all three for
// every header block. A block that leaves the HPACK table alone and
// repeats the last such block (of at most maxRepeat bytes) byte for byte, with no block between that
// may have changed the table, is not decoded again (see tableNeutral).
// WindowUpdate parses a WINDOW_UPDATE payload in place, for the same
// reason: the Framer allocates a frame for each. molt's server engine
// (package h2) and its client (internal/h2client) both read with it.
package h2meta

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Decoder assembles the header blocks of one connection. The
// MetaHeadersFrame that Assemble returns is valid until the next header
// block: nothing may keep it or its Fields slice (the strings in it may be
// kept). A Decoder is for one goroutine, the connection's read loop.
type Decoder struct {
	hdec    *hpack.Decoder
	maxList uint32
	maxStr  uint64 // the HPACK decoder's longest string

	// The start of a field that a fragment ended in, kept until the
	// fragments that complete it arrive: the HPACK decoder is given
	// whole fields only (see write). onSplit: the HPACK decoder's last
	// Write (of something: an empty one changes nothing) was from
	// d.split, which it still refers to. unhook is set when that buffer
	// was large and the Decoder has let it go.
	split   []byte
	onSplit bool
	unhook  bool

	mh             http2.MetaHeadersFrame
	fields         []hpack.HeaderField
	invalid        error
	sawRegular     bool
	headersRemain  uint32
	trailersRemain uint32
	truncated      bool
	detail         error

	// The last header block that was one frame of indexed fields and
	// literals not indexed only, and what it decoded to. Such a block
	// does not change the dynamic table, so the same bytes decode to
	// the same fields until a block that may change it: a server
	// answering the same response again (a load generator's case) is
	// decoded once. repeatOK is false when there is none, or a block
	// since may have changed the table.
	repeatBlock     []byte
	repeatFields    []hpack.HeaderField
	repeatTruncated bool
	repeatOK        bool
	repeats         uint64 // blocks answered from the repeat (for tests)
}

// keepSplit is the largest buffer a Decoder keeps for fields split
// across fragments once their header block is complete.
const keepSplit = 4 << 10

// keepFields is the most fields a Decoder's field slice keeps room for
// from one header block to the next: more than requests and responses
// have, so that the slice is reused for them.
const keepFields = 128

// NewDecoder returns a Decoder whose HPACK dynamic table starts at
// tableSize bytes, and which marks a header block Truncated beyond
// maxList bytes of fields (RFC 9113 section 6.5.2; 0 means 16 MiB, the
// Framer's default).
func NewDecoder(tableSize, maxList uint32) *Decoder {
	d := &Decoder{maxList: maxList}
	if d.maxList == 0 {
		d.maxList = 16 << 20
	}
	d.hdec = hpack.NewDecoder(tableSize, d.emit)
	d.maxStr = uint64(min(d.maxList, 1<<30))
	d.hdec.SetMaxStringLength(int(d.maxStr))
	return d
}

// Release tells the Decoder that the caller is done with the
// MetaHeadersFrame it returned last. Its fields are let go, so that an
// idle connection does not keep the strings of the last header block (a
// field may be as large as the header list); a field slice grown beyond
// keepFields by a block of many fields goes too (40 bytes a field, tens
// of thousands of fields within a header list limit of 1 MiB), and a
// smaller one stays for the next block.
func (d *Decoder) Release() {
	clear(d.fields)
	d.mh.Fields = nil
	if cap(d.fields) > keepFields {
		d.fields = nil
	}
}

// SetAllowedMaxDynamicTableSize sets the largest dynamic table the peer
// may ask for with a table size update: what we advertised in
// SETTINGS_HEADER_TABLE_SIZE, once it applies.
func (d *Decoder) SetAllowedMaxDynamicTableSize(v uint32) {
	d.hdec.SetAllowedMaxDynamicTableSize(v)
}

// ErrorDetail returns a more detailed error of the last error Assemble
// returned, as http2.Framer.ErrorDetail does, or nil.
func (d *Decoder) ErrorDetail() error { return d.detail }

func (d *Decoder) emit(hf hpack.HeaderField) {
	if !httpguts.ValidHeaderFieldValue(hf.Value) {
		// The value may be a secret: it is not in the error.
		d.invalid = fmt.Errorf("invalid header field value for %q", hf.Name)
	}
	if strings.HasPrefix(hf.Name, ":") {
		if d.sawRegular {
			d.invalid = errors.New("pseudo header field after regular")
		}
	} else {
		d.sawRegular = true
		if !validWireName(hf.Name) {
			d.invalid = fmt.Errorf("invalid header field name %q", hf.Name)
		}
	}
	if d.invalid != nil {
		d.hdec.SetEmitEnabled(false)
		return
	}
	remain := &d.headersRemain
	size := hf.Size()
	if hf.Name == "trailer" {
		// Counted apart, as the Framer does: each name it declares costs
		// a field's overhead.
		remain = &d.trailersRemain
		n := uint32(strings.Count(hf.Value, ",") + 1)
		size = uint32(len(hf.Value)) - n + 1 + n*hpack.HeaderField{}.Size()
	}
	if size > *remain {
		d.hdec.SetEmitEnabled(false)
		d.truncated = true
		d.headersRemain, d.trailersRemain = 0, 0
		return
	}
	*remain -= size
	d.fields = append(d.fields, hf)
}

// validWireName reports whether name is a valid lowercase field name.
func validWireName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !httpguts.IsTokenRune(rune(c)) || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// Assemble takes the frame just read. HEADERS and CONTINUATION frames are
// decoded: it returns the MetaHeadersFrame once the block is complete, and
// nil, nil before. Other frames are returned as they are. Errors are
// http2.ConnectionError (PROTOCOL_ERROR, COMPRESSION_ERROR) or
// http2.StreamError (PROTOCOL_ERROR, with a Cause), as from the Framer;
// after a StreamError the block has been decoded and the HPACK state is
// still in step. The Framer itself checks that CONTINUATION frames follow
// their HEADERS.
func (d *Decoder) Assemble(f http2.Frame) (http2.Frame, error) {
	switch f := f.(type) {
	case *http2.HeadersFrame:
		return d.assemble(f, f.HeaderBlockFragment(), f.HeadersEnded())
	case *http2.ContinuationFrame:
		return d.assemble(nil, f.HeaderBlockFragment(), f.HeadersEnded())
	}
	return f, nil
}

// AssembleHeaders is Assemble for a HEADERS frame whose header block
// fragment the caller has read itself: hf holds the frame header (from
// http2.Framer.ReadFrameHeader, which also checks the order of HEADERS
// and CONTINUATION frames), frag the fragment, padding and priority
// fields already removed. hf is kept in the MetaHeadersFrame returned,
// and frag is not kept.
func (d *Decoder) AssembleHeaders(hf *http2.HeadersFrame, frag []byte) (http2.Frame, error) {
	return d.assemble(hf, frag, hf.HeadersEnded())
}

// assemble takes the fragment of a HEADERS frame (hf) or, with hf nil, of
// a CONTINUATION frame.
func (d *Decoder) assemble(hf *http2.HeadersFrame, frag []byte, ended bool) (http2.Frame, error) {
	d.detail = nil
	if hf != nil {
		d.mh = http2.MetaHeadersFrame{HeadersFrame: hf}
		if cap(d.fields) > keepFields {
			d.fields = nil // as Release, for a caller that did not call it
		} else {
			clear(d.fields) // hold no strings of the last block
			d.fields = d.fields[:0]
		}
		d.split = d.split[:0]
		d.invalid, d.sawRegular, d.truncated = nil, false, false
		d.headersRemain, d.trailersRemain = d.maxList, d.maxList
		d.hdec.SetEmitEnabled(true)
	}
	// The sum in int64: in uint32 it wraps for a list size of 2^31 or
	// more, refusing every header block.
	if int64(len(frag)) > 2*(int64(d.headersRemain)+int64(d.trailersRemain)) {
		// Far beyond the list size: not worth decoding, as the Framer.
		d.detail = errors.New("header list too large")
		return nil, http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if d.invalid != nil {
		// A CONTINUATION after an invalid field: its size was not
		// followed since.
		d.detail = d.invalid
		return nil, http2.ConnectionError(http2.ErrCodeProtocol)
	}
	whole := hf != nil && ended
	if whole && d.repeatOK && bytes.Equal(frag, d.repeatBlock) {
		// Decoded, checked and found valid before, with the table as
		// it is now.
		d.fields = append(d.fields, d.repeatFields...)
		d.mh.Fields = d.fields
		d.mh.Truncated = d.repeatTruncated
		d.repeats++
		return &d.mh, nil
	}
	neutral := whole && tableNeutral(frag)
	if !neutral {
		d.repeatOK = false // this block may change the dynamic table
	}
	if err := d.write(frag, ended); err != nil {
		d.detail = err
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if !ended {
		return nil, nil
	}
	if err := d.hdec.Close(); err != nil {
		d.detail = err
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if d.unhook {
		d.unhookSplit()
	}
	id := d.mh.StreamID
	if d.invalid != nil {
		d.detail = d.invalid
		return nil, http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol, Cause: d.invalid}
	}
	d.mh.Fields = d.fields
	d.mh.Truncated = d.truncated
	if err := checkPseudos(d.mh.PseudoFields()); err != nil {
		d.detail = err
		return nil, http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol, Cause: err}
	}
	if neutral && len(frag) <= maxRepeat {
		d.repeatBlock = append(d.repeatBlock[:0], frag...)
		d.repeatFields = append(d.repeatFields[:0], d.fields...)
		d.repeatTruncated = d.truncated
		d.repeatOK = true
	}
	return &d.mh, nil
}

// write decodes a fragment of a header block, the last one if ended.
// The HPACK decoder is given whole field representations only: it keeps
// the part of a field that one Write ends in, to finish it with the next
// Write, in a buffer that never shrinks, so that a connection would keep
// for its life the largest field a peer ever split across CONTINUATION
// frames (up to the header list size). The split field waits in
// d.split instead, whose buffer goes once the block is complete if it
// has grown beyond keepSplit.
func (d *Decoder) write(frag []byte, ended bool) error {
	b := frag
	fromSplit := len(d.split) > 0
	if fromSplit {
		d.split = append(d.split, frag...)
		b = d.split
	}
	cut := len(b)
	if !ended {
		cut = wholeFields(b, d.maxStr)
	}
	if cut > 0 {
		d.onSplit = fromSplit
	}
	_, err := d.hdec.Write(b[:cut])
	if err == nil && !ended {
		// The decoder has copied the strings it emitted: the rest may
		// move to the front of d.split. A fragment that completes no
		// field costs its own length, not the split field's (one byte
		// of a long field per CONTINUATION frame would be quadratic).
		if fromSplit {
			if cut > 0 {
				d.split = d.split[:copy(d.split, b[cut:])]
			}
		} else {
			d.split = append(d.split, b[cut:]...)
		}
		return nil
	}
	d.split = d.split[:0]
	if cap(d.split) > keepSplit {
		d.split = nil
		d.unhook = d.onSplit
	}
	return err
}

// incomplete is the start of an indexed field whose index goes on in
// bytes that never come.
var incomplete = [1]byte{0xff}

// unhookSplit makes the HPACK decoder, between two header blocks, let go
// of the split buffer it was last given: hpack.Decoder refers to the
// slice of its last Write until the next one. It is given a field
// representation that does not complete, which it keeps (one byte, in
// its own buffer, which a Write that completes nothing never grows)
// without decoding anything, and closed again, which drops that byte
// with an error to ignore. The decoder is as before: between blocks,
// with nothing saved and the next field the first of a block.
func (d *Decoder) unhookSplit() {
	d.unhook, d.onSplit = false, false
	d.hdec.Write(incomplete[:])
	d.hdec.Close()
}

// wholeFields returns the length of the field representations at the
// start of b that are complete (RFC 7541 section 6): the start of the
// one b ends in. It returns len(b) when what it reads is malformed or
// declares a string longer than maxStr, for the HPACK decoder to say
// what is wrong.
func wholeFields(b []byte, maxStr uint64) int {
	i := 0
	for i < len(b) {
		next, st := fieldEnd(b, i, maxStr)
		switch st {
		case partShort:
			return i
		case partBad:
			return len(b)
		}
		i = next
	}
	return i
}

// What fieldEnd and its parts find.
const (
	partDone  = iota // complete
	partShort        // b ends inside it
	partBad          // malformed, or a string longer than allowed
)

// fieldEnd returns the index after the field representation at b[i].
func fieldEnd(b []byte, i int, maxStr uint64) (int, int) {
	c := b[i]
	var prefix uint
	switch {
	case c&0x80 != 0: // indexed
		_, next, st := varint(b, i, 7)
		return next, st
	case c&0xe0 == 0x20: // dynamic table size update
		_, next, st := varint(b, i, 5)
		return next, st
	case c&0xc0 == 0x40: // literal with incremental indexing
		prefix = 6
	default: // literal without indexing, never indexed
		prefix = 4
	}
	name, next, st := varint(b, i, prefix)
	if st != partDone {
		return next, st
	}
	if name == 0 { // a literal name
		if next, st = stringEnd(b, next, maxStr); st != partDone {
			return next, st
		}
	}
	return stringEnd(b, next, maxStr)
}

// stringEnd returns the index after the string literal at b[i].
func stringEnd(b []byte, i int, maxStr uint64) (int, int) {
	if i >= len(b) {
		return i, partShort
	}
	n, next, st := varint(b, i, 7)
	if st != partDone {
		return next, st
	}
	if n > maxStr {
		return next, partBad
	}
	if n > uint64(len(b)-next) {
		return next, partShort
	}
	return next + int(n), partDone
}

// varint decodes the integer with an n-bit prefix at b[i] as the HPACK
// decoder does, which refuses one of more than 63 bits.
func varint(b []byte, i int, n uint) (uint64, int, int) {
	mask := uint64(1)<<n - 1
	v := uint64(b[i]) & mask
	i++
	if v < mask {
		return v, i, partDone
	}
	for shift := uint(0); ; shift += 7 {
		if shift >= 63 {
			return 0, i, partBad
		}
		if i >= len(b) {
			return 0, i, partShort
		}
		c := b[i]
		i++
		v += uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i, partDone
		}
	}
}

// TableNeutral reports whether decoding block leaves an HPACK dynamic
// table as it was (see tableNeutral). An encoder that wrote block did not
// change its table either, so the same fields encoded again, with nothing
// between, give the same bytes: molt's server engine reuses the block of
// a repeated response that way.
func TableNeutral(block []byte) bool { return tableNeutral(block) }

// maxRepeat is the largest header block kept for the repeat: its copy
// and the strings decoded from it stay with the connection, idle or not
// (a repeated response or request is tens of bytes). A larger block that
// leaves the table alone is decoded every time, and keeps the repeat of
// the last small one valid.
const maxRepeat = 512

// tableNeutral reports whether decoding block leaves the dynamic table as
// it was: it holds only indexed fields and literals without indexing or
// never indexed (RFC 7541 sections 6.1, 6.2.2, 6.2.3), no literal with
// incremental indexing and no dynamic table size update. A block it
// cannot parse is not neutral (the decoder will say what is wrong).
func tableNeutral(block []byte) bool {
	if len(block) == 0 {
		return false
	}
	for i := 0; i < len(block); {
		if b := block[i]; b&0x80 == 0 && b&0xe0 != 0 {
			return false // incremental indexing (01), table size update (001)
		}
		// Indexed, or a literal without indexing (0000) or never
		// indexed (0001).
		next, st := fieldEnd(block, i, math.MaxUint64)
		if st != partDone {
			return false
		}
		i = next
	}
	return true
}

// checkPseudos rejects unknown, duplicate and mixed pseudo-header fields.
func checkPseudos(pf []hpack.HeaderField) error {
	var isRequest, isResponse bool
	for i, hf := range pf {
		switch hf.Name {
		case ":method", ":path", ":scheme", ":authority", ":protocol":
			isRequest = true
		case ":status":
			isResponse = true
		default:
			return fmt.Errorf("invalid pseudo-header %q", hf.Name)
		}
		for _, hf2 := range pf[:i] {
			if hf.Name == hf2.Name {
				return fmt.Errorf("duplicate pseudo-header %q", hf.Name)
			}
		}
	}
	if isRequest && isResponse {
		return errors.New("mix of request and response pseudo headers")
	}
	return nil
}
