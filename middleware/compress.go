package middleware

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// CompressLevel sets the compression level of each encoding, each on that
// encoding's own scale. A zero field means the encoding's default; the
// defaults favour speed, since every response is compressed on its
// request's goroutine.
type CompressLevel struct {
	// Zstd is a zstd level, 1 to 22; the default is 3, zstd's own
	// default. klauspost/compress implements four speeds, to which the
	// levels map: 1-2 SpeedFastest, 3-5 SpeedDefault, 6-9
	// SpeedBetterCompression, 10-22 SpeedBestCompression.
	Zstd int
	// Brotli is a brotli quality, 1 to 11; the default is 4. (Quality 0
	// cannot be chosen: 0 means the default.)
	Brotli int
	// Gzip is a gzip level, 1 to 9; the default is 5.
	Gzip int
}

// CompressOptions configures Compress. The zero value is ready to use.
type CompressOptions struct {
	// Level sets the compression level of each encoding; see
	// CompressLevel for the defaults.
	Level CompressLevel

	// MinSize is the smallest body, in bytes, that is compressed; a
	// smaller one is sent as it is, since compressing it saves little and
	// costs a frame. Zero means 1024. Until MinSize bytes have been
	// written the body is held back (unless the handler set a
	// Content-Length, which decides at once), so set 1 to compress
	// every body that is not empty. A Flush before MinSize bytes decides
	// for compression: a flushed response is a stream of unknown length.
	MinSize int

	// ContentTypes lists the media types that are compressed, each an
	// exact "type/subtype" or a "type/*" wildcard ("*/*" compresses
	// every type); parameters are ignored and the match is
	// case-insensitive. Nil means DefaultCompressContentTypes. A response
	// whose Content-Type is not set is compressed according to the type
	// net/http would sniff from its first bytes, and gets that type set.
	ContentTypes []string

	// Encodings lists the content codings Compress may use, among
	// "zstd", "br" and "gzip", in the server's order of preference, which
	// breaks ties between codings the client weighs the same. Nil means
	// ["zstd", "br", "gzip"].
	Encodings []string
}

// DefaultCompressContentTypes are the media types Compress compresses
// when CompressOptions.ContentTypes is nil: text, and the structured and
// script formats that are text in all but name. Formats that are already
// compressed (images other than SVG, audio, video, archives, WOFF fonts)
// are not listed.
var DefaultCompressContentTypes = []string{
	"text/*",
	"application/javascript",
	"application/json",
	"application/ld+json",
	"application/manifest+json",
	"application/problem+json",
	"application/problem+xml",
	"application/geo+json",
	"application/x-ndjson",
	"application/xml",
	"application/xhtml+xml",
	"application/atom+xml",
	"application/rss+xml",
	"application/wasm",
	"image/svg+xml",
	"font/ttf",
	"font/otf",
}

// defaultCompressEncodings is the server's order of preference: zstd is
// the fastest for a given ratio, brotli the densest, gzip understood by
// every client.
var compDefaultEncodings = []string{compZstd, compBrotli, compGzip}

const compDefaultMinSize = 1024

// sniffLen is how much of a body net/http's content sniffing looks at.
const compSniffLen = 512

// Compress returns a middleware that compresses response bodies with
// zstd, brotli or gzip, whichever the client accepts and weighs highest,
// ties going to the server's order (CompressOptions.Encodings).
//
// Accept-Encoding is read per RFC 9110 section 12.5.3: codings are
// case-insensitive, "x-gzip" counts as "gzip", "*" stands for every coding
// not listed, and q=0 refuses a coding. An entry that does not follow the
// grammar (a weight such as "q=abc", "q=2", "q=-1" or "q=0.1234", stray
// parameters, empty ones as in "gzip;;") is ignored, as if absent. If a
// coding is listed twice, the lower weight counts. The body is sent
// uncompressed when the client accepts no offered coding, when it has no
// Accept-Encoding at all, or when it lists identity with a weight higher
// than every acceptable coding; Compress never answers 406.
//
// A response is compressed only when all of this holds: the request is
// not HEAD; the status is 2xx other than 204 and 206, or 3xx other than
// 304, or 4xx or 5xx; the handler set no Content-Encoding, no
// Content-Range and no Cache-Control "no-transform"; the Content-Type is
// allowed (CompressOptions.ContentTypes); and the body has at least
// MinSize bytes. Then Compress sets Content-Encoding, deletes
// Content-Length and Accept-Ranges (ranges of the coded body are not
// served), and makes a strong ETag weak by prefixing W/, since the bytes
// differ from those the tag was computed over. A 304 to a client that
// accepts a coding gets its strong ETag weakened as well, to match the
// 200 it stands for, unless the request's If-None-Match names the strong
// tag itself: then the client holds a 200 that was not coded (its type is
// not compressed, or it was under MinSize), and the 304 keeps the tag it
// had. Compress sets a new ETag slice and leaves the handler's alone,
// which may be shared.
//
// Every response that could have been compressed for some client gets
// "Vary: Accept-Encoding", whether or not this one was, so that caches
// keep the codings apart: a 304 and a HEAD response get it too. A HEAD
// response describes the uncompressed body: it keeps the handler's
// Content-Length and gets no Content-Encoding, since no body is sent that
// could be decoded.
//
// Informational responses (1xx, such as 103 Early Hints) pass through
// before the final response. Upgrades and CONNECT requests (IsUpgrade)
// pass through untouched, and a handler that hijacks the connection gets
// it with whatever was written sent uncompressed. Flush (through
// http.ResponseController or http.Flusher) flushes the encoder, then the
// connection, so streamed responses such as server-sent events reach the
// client as they are written.
//
// Encoders come from pools shared by every Compress with the same level,
// so in steady state no encoder is allocated per response. Writes after
// the handler returned fail. Compress panics if an option is invalid.
func Compress(opts CompressOptions) func(http.Handler) http.Handler {
	c := newCompressor(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if IsUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
			cw := &compressWriter{
				w:    w,
				c:    c,
				enc:  c.negotiate(r.Header["Accept-Encoding"]),
				head: r.Method == http.MethodHead,
				inm:  r.Header["If-None-Match"],
			}
			next.ServeHTTP(cw, r)
			// After a panic the response is left to whoever recovers it,
			// and the encoder to the garbage collector.
			cw.finish()
		})
	}
}

// compressor is the configuration of one Compress.
type compressor struct {
	encs    []*compCoding // in the server's order of preference, at most 3
	minSize int
	types   compTypes
	bufs    sync.Pool // *[]byte, holding a body until MinSize
}

func newCompressor(opts CompressOptions) *compressor {
	c := &compressor{minSize: opts.MinSize}
	switch {
	case c.minSize == 0:
		c.minSize = compDefaultMinSize
	case c.minSize < 0:
		panic(fmt.Sprintf("middleware: Compress: MinSize %d is negative", c.minSize))
	}
	names := opts.Encodings
	if len(names) == 0 {
		names = compDefaultEncodings
	}
	for _, name := range names {
		var level int
		switch strings.ToLower(name) {
		case compZstd:
			level = compLevel(compZstd, opts.Level.Zstd)
		case compBrotli:
			level = compLevel(compBrotli, opts.Level.Brotli)
		case compGzip:
			level = compLevel(compGzip, opts.Level.Gzip)
		default:
			panic(fmt.Sprintf("middleware: Compress: unknown encoding %q (want zstd, br or gzip)", name))
		}
		e := compCodingFor(strings.ToLower(name), level)
		for _, prev := range c.encs {
			if prev.name == e.name {
				panic(fmt.Sprintf("middleware: Compress: encoding %q listed twice", name))
			}
		}
		c.encs = append(c.encs, e)
	}
	types := opts.ContentTypes
	if types == nil {
		types = DefaultCompressContentTypes
	}
	c.types = newCompTypes(types)
	return c
}

// typeMatcher matches media types against an allow list.
type compTypes struct {
	all      bool     // "*/*"
	exact    []string // "application/json"
	prefixes []string // "text/" for "text/*"
}

func newCompTypes(types []string) compTypes {
	var m compTypes
	for _, t := range types {
		typ, sub, ok := strings.Cut(strings.ToLower(t), "/")
		if !ok || !httpguts.ValidHeaderFieldName(typ) || !httpguts.ValidHeaderFieldName(sub) || (typ == "*" && sub != "*") {
			panic(fmt.Sprintf("middleware: Compress: content type %q is not type/subtype, type/* or */*", t))
		}
		switch {
		case typ == "*":
			m.all = true
		case sub == "*":
			m.prefixes = append(m.prefixes, typ+"/")
		default:
			m.exact = append(m.exact, typ+"/"+sub)
		}
	}
	return m
}

// match reports whether the media type of the Content-Type value ct is
// allowed.
func (m *compTypes) match(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.Trim(ct, " \t")
	if ct == "" {
		return false
	}
	if m.all {
		return true
	}
	for _, e := range m.exact {
		if strings.EqualFold(ct, e) {
			return true
		}
	}
	for _, p := range m.prefixes {
		if len(ct) > len(p) && strings.EqualFold(ct[:len(p)], p) {
			return true
		}
	}
	return false
}

// negotiate picks the encoding for a request with the given
// Accept-Encoding field values, or nil for none: the one with the highest
// weight, ties going to the server's order, unless identity weighs more.
// It does not allocate, and its time is linear in the length of the
// values.
func (c *compressor) negotiate(values []string) *compCoding {
	if len(values) == 0 {
		return nil
	}
	var names [3]string
	for i, e := range c.encs {
		names[i] = e.name
	}
	var weights [3]int
	identity := codingWeights(values, names[:len(c.encs)], weights[:len(c.encs)])
	best, bestQ := -1, 0
	for i, q := range weights[:len(c.encs)] {
		if q > bestQ {
			best, bestQ = i, q
		}
	}
	if best < 0 || identity > bestQ {
		return nil
	}
	return c.encs[best]
}

// The states of a compressWriter.
const (
	cwInit     = iota // nothing written yet
	cwWait            // final status set; body held back until the decision
	cwIdentity        // header sent; body passes through
	cwCompress        // header sent; body goes through the encoder
	cwHijacked        // the handler took the connection
	cwDone            // the handler returned
)

var errCompressDone = errors.New("middleware: Compress: write after the handler returned")

// compressWriter is the ResponseWriter that Compress gives the handler.
// It is allocated per request, not pooled, so that a handler which keeps
// it after returning gets errors, never another response's encoder.
type compressWriter struct {
	w      http.ResponseWriter
	c      *compressor
	enc    *compCoding // what the client accepts; nil for nothing
	head   bool        // a HEAD request
	state  uint8
	status int
	encw   compEncoder // in cwCompress
	buf    *[]byte     // in cwWait, from c.bufs
	inm    []string    // the request's If-None-Match
	vals   [4]string   // backing for header values, saving an allocation each
}

// The interfaces that the writer keeps.
var (
	_ http.ResponseWriter                       = (*compressWriter)(nil)
	_ http.Flusher                              = (*compressWriter)(nil)
	_ http.Hijacker                             = (*compressWriter)(nil)
	_ io.ReaderFrom                             = (*compressWriter)(nil)
	_ io.StringWriter                           = (*compressWriter)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = (*compressWriter)(nil)
	_ interface{ FlushError() error }           = (*compressWriter)(nil)
)

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (cw *compressWriter) Unwrap() http.ResponseWriter { return cw.w }

// Header returns the header map of the wrapped writer.
func (cw *compressWriter) Header() http.Header { return cw.w.Header() }

// WriteHeader passes informational responses through, and records a final
// status, deciding about compression if the header alone decides it.
func (cw *compressWriter) WriteHeader(code int) {
	switch {
	case cw.state == cwInit && code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols:
		cw.w.WriteHeader(code)
	case cw.state == cwInit:
		cw.status, cw.state = code, cwWait
		cw.decideEarly()
	case cw.state == cwIdentity || cw.state == cwCompress:
		cw.w.WriteHeader(code) // superfluous: let the server say so
	}
}

// compressible reports whether the response, as its header stands, may be
// compressed for some client, and whether its Content-Type is set (if not,
// the body's first bytes decide).
func (cw *compressWriter) compressible() (ok, typed bool) {
	if s := cw.status; s < 200 || s == http.StatusNoContent || s == http.StatusPartialContent {
		return false, true
	}
	h := cw.w.Header()
	if len(h["Content-Encoding"]) > 0 || len(h["Content-Range"]) > 0 ||
		httpguts.HeaderValuesContainsToken(h["Cache-Control"], "no-transform") {
		return false, true
	}
	ct, typed := h["Content-Type"]
	if !typed {
		return true, false
	}
	return len(ct) > 0 && cw.c.types.match(ct[0]), true
}

// decideEarly decides what the header alone decides, and otherwise leaves
// the writer waiting for the body.
func (cw *compressWriter) decideEarly() {
	ok, typed := cw.compressible()
	switch {
	case !ok:
		cw.commitIdentity(false)
	case cw.status == http.StatusNotModified:
		if cw.enc != nil && !cw.holdsStrongTag() {
			// The tag must be the one the 200 would carry, which would
			// be coded for this client (barring a body under MinSize,
			// which a 304 does not show).
			cw.weakenETag(cw.w.Header())
		}
		cw.commitIdentity(true)
	case cw.enc == nil || cw.head:
		cw.commitIdentity(true)
	default:
		if n, known := cw.contentLength(); known {
			if n < int64(cw.c.minSize) {
				cw.commitIdentity(true)
			} else if typed {
				cw.commitCompress()
			}
		}
	}
}

// contentLength returns the Content-Length the handler set, if valid.
func (cw *compressWriter) contentLength() (int64, bool) {
	cl := cw.w.Header()["Content-Length"]
	if len(cl) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.Trim(cl[0], " \t"), 10, 64)
	return n, err == nil && n >= 0
}

// decide ends the wait: the body so far (whose first bytes are sample)
// decides the Content-Type if the handler set none, and the response is
// compressed if that type is allowed and compress is true.
func (cw *compressWriter) decide(sample []byte, compress bool) error {
	h := cw.w.Header()
	if _, typed := h["Content-Type"]; !typed {
		ct := http.DetectContentType(sample)
		if !cw.c.types.match(ct) {
			return cw.commitIdentity(false)
		}
		if compress {
			cw.vals[2] = ct // set, or net/http would sniff the coded bytes
			h["Content-Type"] = cw.vals[2:3:3]
		}
	}
	if compress {
		return cw.commitCompress()
	}
	return cw.commitIdentity(true) // net/http sniffs the same bytes
}

// addVary adds Accept-Encoding to Vary, unless it is there or Vary is "*".
func (cw *compressWriter) addVary(h http.Header) {
	v := h["Vary"]
	if httpguts.HeaderValuesContainsToken(v, "Accept-Encoding") || httpguts.HeaderValuesContainsToken(v, "*") {
		return
	}
	if len(v) == 0 {
		cw.vals[0] = "Accept-Encoding"
		h["Vary"] = cw.vals[0:1:1]
		return
	}
	h["Vary"] = append(v, "Accept-Encoding")
}

// weakenETag makes a strong ETag in h weak. It sets a new slice rather
// than change the handler's, which may be shared with other responses.
func (cw *compressWriter) weakenETag(h http.Header) {
	et := h["Etag"]
	if len(et) == 0 || !strings.HasPrefix(et[0], `"`) {
		return
	}
	cw.vals[3] = "W/" + et[0]
	if len(et) == 1 {
		h["Etag"] = cw.vals[3:4:4]
		return
	}
	h["Etag"] = append([]string{cw.vals[3]}, et[1:]...)
}

// holdsStrongTag reports whether the request's If-None-Match names the
// 304's strong ETag as it is: then the client holds a response that
// was not coded (of a type Compress leaves alone, or under MinSize), and
// the 304 must carry the same strong tag. A client that holds a coded
// response sends the weak tag it got.
func (cw *compressWriter) holdsStrongTag() bool {
	et := cw.w.Header()["Etag"]
	return len(et) > 0 && strings.HasPrefix(et[0], `"`) && etagListMatch(cw.inm, et[0], false)
}

// commitIdentity sends the header, with Vary if vary, and the body held
// back so far, and lets the rest of the body pass through.
func (cw *compressWriter) commitIdentity(vary bool) error {
	if vary {
		cw.addVary(cw.w.Header())
	}
	cw.w.WriteHeader(cw.status)
	cw.state = cwIdentity
	return cw.writeHeld()
}

// commitCompress sends the header of a compressed response and starts the
// encoder with the body held back so far.
func (cw *compressWriter) commitCompress() error {
	h := cw.w.Header()
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	cw.vals[1] = cw.enc.name
	h["Content-Encoding"] = cw.vals[1:2:2]
	cw.weakenETag(h)
	cw.addVary(h)
	cw.w.WriteHeader(cw.status)
	cw.encw = cw.enc.get(cw.w)
	cw.state = cwCompress
	return cw.writeHeld()
}

// writeHeld writes the body held back, through the path just committed,
// and gives the buffer back.
func (cw *compressWriter) writeHeld() error {
	if cw.buf == nil {
		return nil
	}
	var err error
	if len(*cw.buf) > 0 {
		_, err = cw.write(*cw.buf)
	}
	cw.releaseBuf()
	return err
}

func (cw *compressWriter) releaseBuf() {
	if cw.buf != nil {
		*cw.buf = (*cw.buf)[:0]
		cw.c.bufs.Put(cw.buf)
		cw.buf = nil
	}
}

// write writes p through the committed path.
func (cw *compressWriter) write(p []byte) (int, error) {
	switch cw.state {
	case cwIdentity:
		return cw.w.Write(p)
	case cwCompress:
		return cw.encw.Write(p)
	case cwHijacked:
		return 0, http.ErrHijacked
	}
	return 0, errCompressDone
}

// Write writes p to the body: held back while the decision waits for
// MinSize bytes, then compressed or passed through.
func (cw *compressWriter) Write(p []byte) (int, error) {
	if cw.state == cwInit {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.state != cwWait {
		return cw.write(p)
	}
	var held []byte
	if cw.buf != nil {
		held = *cw.buf
	}
	if len(held)+len(p) < cw.c.minSize {
		cw.hold()
		*cw.buf = append(*cw.buf, p...)
		return len(p), nil
	}
	// MinSize reached: decide on the first bytes of the body, and write
	// what was held, then the rest of p.
	sample, used := p, 0
	if len(held) > 0 {
		if len(held) < compSniffLen {
			used = min(len(p), compSniffLen-len(held))
			*cw.buf = append(held, p[:used]...)
		}
		sample = *cw.buf
	}
	if err := cw.decide(sample, true); err != nil {
		return 0, err
	}
	n, err := cw.write(p[used:])
	return used + n, err
}

// hold makes sure the writer has a buffer to hold the body back in.
func (cw *compressWriter) hold() {
	if cw.buf == nil {
		if b, _ := cw.c.bufs.Get().(*[]byte); b != nil {
			cw.buf = b
		} else {
			cw.buf = new([]byte)
		}
	}
}

// WriteString is Write for a string, without a copy where the path allows.
func (cw *compressWriter) WriteString(s string) (int, error) {
	if cw.state == cwInit {
		cw.WriteHeader(http.StatusOK)
	}
	switch cw.state {
	case cwIdentity:
		return io.WriteString(cw.w, s)
	case cwWait:
		cw.hold()
		if len(*cw.buf)+len(s) < cw.c.minSize {
			*cw.buf = append(*cw.buf, s...)
			return len(s), nil
		}
	}
	return cw.Write([]byte(s))
}

// ReadFrom copies src to the body; once the body passes through
// uncompressed it uses the wrapped writer's ReadFrom (sendfile for files
// on HTTP/1.1).
func (cw *compressWriter) ReadFrom(src io.Reader) (int64, error) {
	if cw.state == cwIdentity {
		if rf, ok := cw.w.(io.ReaderFrom); ok {
			return rf.ReadFrom(src)
		}
	}
	return io.Copy(writerOnly{cw}, src)
}

// FlushError sends what the handler wrote to the client: it ends the wait
// (compressing if the response may be, whatever its size so far), flushes
// the encoder, then the wrapped writer.
func (cw *compressWriter) FlushError() error {
	if cw.state == cwInit {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.state == cwWait {
		var held []byte
		if cw.buf != nil {
			held = *cw.buf
		}
		if err := cw.decide(held, true); err != nil {
			return err
		}
	}
	switch cw.state {
	case cwCompress:
		if err := cw.encw.Flush(); err != nil {
			return err
		}
	case cwHijacked:
		return http.ErrHijacked
	case cwDone:
		return errCompressDone
	}
	return http.NewResponseController(cw.w).Flush()
}

// Flush is FlushError for code that asserts http.Flusher.
func (cw *compressWriter) Flush() { _ = cw.FlushError() }

// Hijack hands the connection to the handler, once what was written has
// been sent (uncompressed, if the decision was still open).
func (cw *compressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	switch cw.state {
	case cwWait:
		cw.commitIdentity(false)
	case cwCompress:
		if err := cw.encw.Flush(); err != nil {
			return nil, nil, err
		}
	}
	conn, brw, err := http.NewResponseController(cw.w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if cw.state == cwCompress {
		cw.enc.put(cw.encw)
		cw.encw = nil
	}
	cw.state = cwHijacked
	return conn, brw, nil
}

// finish completes the response after the handler returned: it sends a
// body held back (smaller than MinSize) uncompressed, or closes the
// encoder, and gives back the buffer and the encoder.
func (cw *compressWriter) finish() {
	switch cw.state {
	case cwWait:
		var held []byte
		if cw.buf != nil {
			held = *cw.buf
		}
		cw.decide(held, false)
	case cwCompress:
		cw.encw.Close()
		cw.enc.put(cw.encw)
		cw.encw = nil
	}
	cw.releaseBuf()
	cw.state = cwDone
}
