package h2

import (
	"github.com/molt-http/molt/internal/h2meta"
	"golang.org/x/net/http2"
)

// readFrame reads the next frame and assembles header blocks
// (h2meta.Decoder): it returns the MetaHeadersFrame of a complete block,
// nil and nil for a frame that begins or continues a block that is not
// complete yet, and any other frame as the Framer reads it.
//
// A WINDOW_UPDATE frame buffered whole and valid is parsed in place too
// (h2meta.WindowUpdate), into a frame the connection reuses; one the
// Framer would refuse it reads, and refuses.
//
// A HEADERS frame that is a whole header block (END_HEADERS) without
// padding or priority, the one a request almost always comes in, is not
// read by the Framer when its payload is already buffered: its fragment
// is decoded where it lies in the read buffer, into a HeadersFrame the
// connection reuses. The Framer would copy the payload into its own
// buffer and allocate a HeadersFrame for every request. The Framer still
// reads the frame header (ReadFrameHeader), which checks the frame's size
// and that no CONTINUATION was due; with stream ID 0, or padding or
// priority, which have errors of their own to find, it reads the frame as
// before.
func (sc *serverConn) readFrame() (http2.Frame, error) {
	sc.metaErr = false
	fh, err := sc.fr.ReadFrameHeader()
	if err != nil {
		return nil, err
	}
	var f http2.Frame
	if frag, ok := sc.wholeHeaders(fh); ok {
		sc.hf = http2.HeadersFrame{FrameHeader: fh}
		sc.blockEnds = sc.hf.StreamEnded()
		f, err = sc.meta.AssembleHeaders(&sc.hf, frag)
		sc.metaErr = err != nil
		return f, err
	}
	if fh.Type == http2.FrameWindowUpdate && sc.meterAtPayload(fh) {
		if inc, ok := h2meta.WindowUpdate(fh, sc.br.peek(4)); ok {
			sc.consumePayload(fh)
			sc.wu = http2.WindowUpdateFrame{FrameHeader: fh, Increment: inc}
			return &sc.wu, nil
		}
	}
	if f, err = sc.fr.ReadFrameForHeader(fh); err != nil {
		return f, err
	}
	if hf, ok := f.(*http2.HeadersFrame); ok {
		sc.blockEnds = hf.StreamEnded()
	}
	f, err = sc.meta.Assemble(f)
	sc.metaErr = err != nil
	return f, err
}

// wholeHeaders returns the payload of the frame whose header fh the
// Framer has just read, if it is a HEADERS frame that readFrame decodes
// itself and its payload is buffered whole, and consumes it.
func (sc *serverConn) wholeHeaders(fh http2.FrameHeader) ([]byte, bool) {
	if fh.Type != http2.FrameHeaders || fh.StreamID == 0 ||
		fh.Flags&(http2.FlagHeadersPadded|http2.FlagHeadersPriority) != 0 ||
		!fh.Flags.Has(http2.FlagHeadersEndHeaders) {
		return nil, false
	}
	if !sc.meterAtPayload(fh) {
		return nil, false
	}
	p, ok := sc.br.next(int(fh.Length))
	if ok {
		sc.meter.left = 0 // the payload the meter expected, consumed past it
	}
	return p, ok
}

// meterAtPayload reports whether the meter stands where the Framer left
// it after reading the frame header fh, so that the payload may be taken
// from the buffer past the meter; if not, the Framer must read it.
func (sc *serverConn) meterAtPayload(fh http2.FrameHeader) bool {
	m := &sc.meter
	return !m.flood && m.nhdr == 0 && m.left == fh.Length
}

// consumePayload takes the payload of the frame whose header fh the
// Framer has just read, buffered whole, past the meter.
func (sc *serverConn) consumePayload(fh http2.FrameHeader) {
	sc.br.next(int(fh.Length))
	sc.meter.left = 0
}
