package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// deflateParams are the negotiated permessage-deflate parameters.
type deflateParams struct {
	ownNoContext  bool // this side resets its compressor after each message
	peerNoContext bool // the peer resets its compressor after each message
	ownMaxBits    int  // this side's window bits (8-15)
}

// response renders the Sec-WebSocket-Extensions value of the agreement.
func (p deflateParams) response(clientAskedBits bool) string {
	s := "permessage-deflate"
	if p.ownNoContext {
		s += "; server_no_context_takeover"
	}
	if p.peerNoContext {
		s += "; client_no_context_takeover"
	}
	if clientAskedBits {
		s += "; server_max_window_bits=" + strconv.Itoa(p.ownMaxBits)
	}
	return s
}

// negotiateDeflate picks the first permessage-deflate offer in the
// Sec-WebSocket-Extensions values that mode can honour, and returns the
// agreement and the response header value; ok is false if there is none.
// An offer with an unknown or repeated parameter, or a bad value, is
// declined (RFC 7692, section 5).
func negotiateDeflate(values []string, mode Compression) (p deflateParams, resp string, ok bool) {
	if mode == CompressionDisabled {
		return p, "", false
	}
	for _, v := range values {
		for _, ext := range splitQuoted(v, ',') {
			params := splitQuoted(ext, ';')
			if len(params) == 0 || !strings.EqualFold(strings.TrimSpace(params[0]), "permessage-deflate") {
				continue
			}
			if p, resp, ok := deflateOffer(params[1:], mode); ok {
				return p, resp, true
			}
		}
	}
	return p, "", false
}

func deflateOffer(params []string, mode Compression) (p deflateParams, resp string, ok bool) {
	var seen [4]bool
	askedBits := false
	p.ownMaxBits = 15
	for _, param := range params {
		name, value, hasValue := strings.Cut(param, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if hasValue && len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		var i int
		switch name {
		case "server_no_context_takeover":
			i = 0
			if hasValue {
				return p, "", false
			}
			p.ownNoContext = true
		case "client_no_context_takeover":
			i = 1
			if hasValue {
				return p, "", false
			}
			p.peerNoContext = true
		case "server_max_window_bits":
			i = 2
			bits, good := windowBits(value)
			if !hasValue || !good {
				return p, "", false
			}
			p.ownMaxBits = bits
			askedBits = true
		case "client_max_window_bits":
			i = 3
			// The client can limit its window; this side decompresses any
			// window, so it never asks it to.
			if hasValue {
				if _, good := windowBits(value); !good {
					return p, "", false
				}
			}
		default:
			return p, "", false
		}
		if seen[i] {
			return p, "", false
		}
		seen[i] = true
	}
	if mode == CompressionNoContextTakeover {
		p.ownNoContext = true
		p.peerNoContext = true
	}
	return p, p.response(askedBits), true
}

func windowBits(s string) (int, bool) {
	if len(s) == 0 || len(s) > 2 || s[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 8 || n > 15 {
		return 0, false
	}
	return n, true
}

// splitQuoted splits s at sep outside double-quoted strings, trimming
// spaces and dropping empty elements.
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted:
			i++
		case c == sep && !quoted:
			if t := strings.TrimSpace(s[start:i]); t != "" {
				out = append(out, t)
			}
			start = i + 1
		}
	}
	if t := strings.TrimSpace(s[start:]); t != "" {
		out = append(out, t)
	}
	return out
}

// deflateTail ends every compressed message on the wire (RFC 7692,
// section 7.2.1) and is stripped by the sender.
const deflateTail = "\x00\x00\xff\xff"

// inflateTail is appended to a received message before decompression: the
// stripped sync-flush marker, then an empty final stored block, so that
// the decompressor reports io.EOF at the end of the message.
const inflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

const compressionLevel = flate.BestSpeed

var (
	flateWriters sync.Pool // *flate.Writer, compressionLevel, 15-bit window
	flateReaders sync.Pool // io.ReadCloser implementing flate.Resetter
)

func getFlateWriter(w io.Writer) *flate.Writer {
	if fw, ok := flateWriters.Get().(*flate.Writer); ok {
		fw.Reset(w)
		return fw
	}
	fw, _ := flate.NewWriter(w, compressionLevel)
	return fw
}

func putFlateWriter(fw *flate.Writer) {
	fw.Reset(nil)
	flateWriters.Put(fw)
}

func getFlateReader(r io.Reader, dict []byte) io.ReadCloser {
	if fr, ok := flateReaders.Get().(io.ReadCloser); ok {
		fr.(flate.Resetter).Reset(r, dict)
		return fr
	}
	return flate.NewReaderDict(r, dict)
}

// noInput parks a pooled decompressor: a reader with ReadByte, so that
// Reset does not allocate a bufio.Reader around it.
var noInput = bytes.NewReader(nil)

func putFlateReader(fr io.ReadCloser) {
	fr.(flate.Resetter).Reset(noInput, nil)
	flateReaders.Put(fr)
}

// newWindowWriter returns a compressor whose back-references stay within
// 1<<bits bytes, for a peer that limited server_max_window_bits.
func newWindowWriter(w io.Writer, bits int) *flate.Writer {
	if bits >= 15 {
		fw, _ := flate.NewWriter(w, compressionLevel)
		return fw
	}
	fw, _ := flate.NewWriterWindow(w, 1<<bits)
	return fw
}

// byteSink is an io.Writer that appends to a reusable slice.
type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// window keeps the last 32 KiB of decompressed output, the dictionary for
// the next message when the peer keeps its compression context.
type window struct{ b []byte }

const windowSize = 32 << 10

func (w *window) write(p []byte) {
	if len(p) >= windowSize {
		w.b = append(w.b[:0], p[len(p)-windowSize:]...)
		return
	}
	if len(w.b)+len(p) > 2*windowSize {
		n := copy(w.b, w.b[len(w.b)-(windowSize-len(p)):])
		w.b = w.b[:n]
	}
	w.b = append(w.b, p...)
}

func (w *window) dict() []byte {
	if len(w.b) > windowSize {
		return w.b[len(w.b)-windowSize:]
	}
	return w.b
}

// deflateClientOffer renders Dial's permessage-deflate offer for mode.
func deflateClientOffer(mode Compression) string {
	if mode == CompressionNoContextTakeover {
		return "permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits"
	}
	return "permessage-deflate; client_max_window_bits"
}

// parseDeflateResponse checks a server's Sec-WebSocket-Extensions answer
// to deflateClientOffer(mode) and returns the agreement, from the
// client's side: own is the client, peer the server. ok is false if the
// server declined. Any other extension, a parameter that was not offered
// or is unknown, repeated or malformed fails the handshake (RFC 7692,
// section 5).
func parseDeflateResponse(values []string, mode Compression) (p deflateParams, ok bool, err error) {
	var exts []string
	for _, v := range values {
		exts = append(exts, splitQuoted(v, ',')...)
	}
	if len(exts) == 0 {
		return p, false, nil
	}
	if mode == CompressionDisabled {
		return p, false, errors.New("server accepted an extension that was not offered")
	}
	if len(exts) > 1 {
		return p, false, errors.New("server accepted more than one extension")
	}
	params := splitQuoted(exts[0], ';')
	if len(params) == 0 || !strings.EqualFold(strings.TrimSpace(params[0]), "permessage-deflate") {
		return p, false, fmt.Errorf("server accepted extension %q, which was not offered", exts[0])
	}
	p.ownMaxBits = 15
	var seen [2]bool
	for _, param := range params[1:] {
		name, value, hasValue := strings.Cut(param, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if hasValue && len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		var dup *bool
		switch name {
		case "server_no_context_takeover":
			dup = &p.peerNoContext
		case "client_no_context_takeover":
			dup = &p.ownNoContext
		case "client_max_window_bits":
			bits, good := windowBits(value)
			if !hasValue || !good {
				return p, false, fmt.Errorf("permessage-deflate response with a bad client_max_window_bits %q", value)
			}
			if seen[1] {
				return p, false, errors.New("permessage-deflate response repeats client_max_window_bits")
			}
			seen[1] = true
			p.ownMaxBits = bits
			continue
		default:
			return p, false, fmt.Errorf("permessage-deflate response with parameter %q, which was not offered", name)
		}
		if hasValue {
			return p, false, fmt.Errorf("permessage-deflate response gives %s a value", name)
		}
		if *dup {
			return p, false, fmt.Errorf("permessage-deflate response repeats %s", name)
		}
		*dup = true
	}
	if mode == CompressionNoContextTakeover {
		p.ownNoContext = true
	}
	return p, true, nil
}
