package h2client

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// metaDecoder assembles HEADERS and CONTINUATION frames into a
// MetaHeadersFrame, checking the fields the way http2.Framer does with
// ReadMetaHeaders set, but reusing the frame, its field slice and the
// decoder's callback from one header block to the next: the framer's own
// assembly allocates all three for every response, which was the largest
// cost of a load generator's read loop. The MetaHeadersFrame it returns
// is valid until the next header block; nothing may retain it or its
// Fields slice (the strings in it may be kept).
type metaDecoder struct {
	hdec    *hpack.Decoder
	maxList uint32 // our SETTINGS_MAX_HEADER_LIST_SIZE, 16 MiB if unset

	mh             http2.MetaHeadersFrame
	fields         []hpack.HeaderField
	invalid        error
	sawRegular     bool
	headersRemain  uint32
	trailersRemain uint32
	truncated      bool
}

func newMetaDecoder(tableSize, maxList uint32) *metaDecoder {
	d := &metaDecoder{maxList: maxList}
	if d.maxList == 0 {
		d.maxList = 16 << 20 // the framer's default
	}
	d.hdec = hpack.NewDecoder(defaultTableSize, d.emit)
	d.hdec.SetAllowedMaxDynamicTableSize(tableSize)
	d.hdec.SetMaxStringLength(int(min(d.maxList, 1<<30)))
	return d
}

func (d *metaDecoder) emit(hf hpack.HeaderField) {
	if !httpguts.ValidHeaderFieldValue(hf.Value) {
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

// assemble takes the frame just read. HEADERS and CONTINUATION frames are
// decoded: it returns the MetaHeadersFrame once the block is complete, and
// nil before. Other frames are returned as they are. Errors are
// http2.ConnectionError or http2.StreamError, as from the framer.
func (d *metaDecoder) assemble(f http2.Frame) (http2.Frame, error) {
	var frag []byte
	var ended bool
	switch f := f.(type) {
	case *http2.HeadersFrame:
		d.mh = http2.MetaHeadersFrame{HeadersFrame: f}
		d.fields = d.fields[:0]
		d.invalid, d.sawRegular, d.truncated = nil, false, false
		d.headersRemain, d.trailersRemain = d.maxList, d.maxList
		d.hdec.SetEmitEnabled(true)
		frag, ended = f.HeaderBlockFragment(), f.HeadersEnded()
	case *http2.ContinuationFrame:
		// The framer checked that it follows the HEADERS of d.mh.
		frag, ended = f.HeaderBlockFragment(), f.HeadersEnded()
	default:
		return f, nil
	}
	if int64(len(frag)) > 2*int64(d.headersRemain+d.trailersRemain) || d.invalid != nil {
		return nil, http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if _, err := d.hdec.Write(frag); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if !ended {
		return nil, nil
	}
	if err := d.hdec.Close(); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	id := d.mh.StreamID
	if d.invalid != nil {
		return nil, http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol, Cause: d.invalid}
	}
	d.mh.Fields = d.fields
	d.mh.Truncated = d.truncated
	if err := checkPseudos(d.mh.PseudoFields()); err != nil {
		return nil, http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol, Cause: err}
	}
	return &d.mh, nil
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
