package middleware

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// ETagOptions configures ETag. The zero value is ready to use.
type ETagOptions struct {
	// Weak makes the computed tags weak (W/"..."), for handlers whose
	// output may differ in bytes between requests while meaning the same.
	// By default the tags are strong: they are computed from the bytes of
	// the body, so equal tags mean equal bytes.
	Weak bool

	// MaxSize is the largest body, in bytes, that ETag holds back to
	// compute a tag; a longer one is sent as it is written, without a
	// tag. Zero means 1 MiB.
	MaxSize int
}

const etagDefaultMaxSize = 1 << 20

// etagPoolMax is the largest buffer kept for reuse: larger ones, rare,
// are left to the garbage collector rather than pinned in the pool.
const etagPoolMax = 256 << 10

// ETag returns a middleware that gives GET and HEAD responses an entity
// tag and answers conditional requests with it.
//
// A 200 response to GET or HEAD whose handler set no ETag is held back,
// up to ETagOptions.MaxSize bytes, and gets a strong tag computed from its
// body when the handler returns: a SHA-256 digest, truncated to 128 bits,
// in hex, quoted, as in "3f2a...". It also gets a Content-Length, unless
// it has one (or a Transfer-Encoding). A tag the handler set is kept,
// and the body is then not held back.
//
// With the tag, ETag evaluates the request's preconditions as RFC 9110
// section 13.2.2 orders them: If-Match (strong comparison; "*" matches)
// failing gives 412 Precondition Failed; If-None-Match (a list, weak
// comparison; "*" matches) matching gives 304 Not Modified, carrying the
// tag and the handler's other fields but for Content-Type,
// Content-Length, Content-Encoding and, as the tag supersedes it,
// Last-Modified; neither has a body. A malformed list matches nothing.
// If-Modified-Since and If-Unmodified-Since are left to the handler (a
// request with If-None-Match ignores If-Modified-Since anyway).
//
// Passed through as they are, with no tag computed: requests other than
// GET and HEAD; upgrades and CONNECT requests (IsUpgrade); responses
// whose status is not 200; responses longer than MaxSize; responses the
// handler flushes (a stream is not held back) or hijacks. A HEAD handler
// that writes no body gets no computed tag, since the tag of an empty
// body would not be the GET response's, unless it sets Content-Length: 0.
//
// Place ETag inside Compress (Compress wrapping ETag) to tag the
// uncompressed body once, Compress weakening the tag of coded responses,
// or outside it to get a strong tag for each coding. ETag panics if an
// option is invalid.
func ETag(opts ETagOptions) func(http.Handler) http.Handler {
	e := &etagger{weak: opts.Weak, maxSize: opts.MaxSize}
	switch {
	case e.maxSize == 0:
		e.maxSize = etagDefaultMaxSize
	case e.maxSize < 0:
		panic(fmt.Sprintf("middleware: ETag: MaxSize %d is negative", e.maxSize))
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if (r.Method != http.MethodGet && r.Method != http.MethodHead) || IsUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
			ew := &etagWriter{w: w, e: e, r: r}
			next.ServeHTTP(ew, r)
			ew.finish()
		})
	}
}

// etagger is the configuration of one ETag.
type etagger struct {
	weak    bool
	maxSize int
	bufs    sync.Pool // *[]byte
}

// The states of an etagWriter.
const (
	ewInit     = iota // nothing written yet
	ewHold            // a 200 with no tag: body held back
	ewPass            // header sent: body passes through
	ewDiscard         // 304 or 412 sent: body dropped
	ewHijacked        // the handler took the connection
	ewDone            // the handler returned
)

var errETagDone = errors.New("middleware: ETag: write after the handler returned")

// etagWriter is the ResponseWriter that ETag gives the handler. Like
// compressWriter it is not pooled, so that a handler which keeps it after
// returning gets errors, never another response's buffer.
type etagWriter struct {
	w     http.ResponseWriter
	e     *etagger
	r     *http.Request
	state uint8
	buf   *[]byte // in ewHold, from e.bufs
}

// The interfaces that the writer keeps.
var (
	_ http.ResponseWriter                       = (*etagWriter)(nil)
	_ http.Flusher                              = (*etagWriter)(nil)
	_ http.Hijacker                             = (*etagWriter)(nil)
	_ io.ReaderFrom                             = (*etagWriter)(nil)
	_ io.StringWriter                           = (*etagWriter)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = (*etagWriter)(nil)
	_ interface{ FlushError() error }           = (*etagWriter)(nil)
)

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (ew *etagWriter) Unwrap() http.ResponseWriter { return ew.w }

// Header returns the header map of the wrapped writer.
func (ew *etagWriter) Header() http.Header { return ew.w.Header() }

// WriteHeader passes informational responses and statuses other than 200
// through; a 200 is answered at once if the handler set a tag, and is
// otherwise held back with its body.
func (ew *etagWriter) WriteHeader(code int) {
	switch {
	case ew.state == ewInit && code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols:
		ew.w.WriteHeader(code)
	case ew.state == ewInit && code != http.StatusOK:
		ew.state = ewPass
		ew.w.WriteHeader(code)
	case ew.state == ewInit:
		if tag := ew.w.Header()["Etag"]; len(tag) > 0 {
			ew.respond(tag[0])
		} else {
			ew.state = ewHold
		}
	case ew.state == ewPass:
		ew.w.WriteHeader(code) // superfluous: let the server say so
	}
}

// respond sends the header of a 200 response with the entity tag tag, or
// the 304 or 412 that the request's preconditions call for.
func (ew *etagWriter) respond(tag string) {
	h := ew.w.Header()
	code := http.StatusOK
	if im := ew.r.Header["If-Match"]; len(im) > 0 && !etagListMatch(im, tag, false) {
		code = http.StatusPreconditionFailed
	} else if inm := ew.r.Header["If-None-Match"]; len(inm) > 0 && etagListMatch(inm, tag, true) {
		code = http.StatusNotModified
	}
	if code == http.StatusOK {
		ew.state = ewPass
		ew.w.WriteHeader(code)
		return
	}
	delete(h, "Content-Type")
	delete(h, "Content-Length")
	delete(h, "Content-Encoding")
	if code == http.StatusNotModified {
		delete(h, "Last-Modified")
	}
	ew.state = ewDiscard
	ew.w.WriteHeader(code)
}

// Write holds p back while the tag is to be computed, until MaxSize.
func (ew *etagWriter) Write(p []byte) (int, error) {
	if ew.state == ewInit {
		ew.WriteHeader(http.StatusOK)
	}
	switch ew.state {
	case ewHold:
		if ew.buf == nil {
			if b, _ := ew.e.bufs.Get().(*[]byte); b != nil {
				ew.buf = b
			} else {
				ew.buf = new([]byte)
			}
		}
		if len(*ew.buf)+len(p) <= ew.e.maxSize {
			*ew.buf = append(*ew.buf, p...)
			return len(p), nil
		}
		if err := ew.release(); err != nil {
			return 0, err
		}
		return ew.w.Write(p)
	case ewPass:
		return ew.w.Write(p)
	case ewDiscard:
		return len(p), nil // the client has it, or must not get it
	case ewHijacked:
		return 0, http.ErrHijacked
	}
	return 0, errETagDone
}

// release gives up on a tag: it sends the header and the body held back,
// and lets the rest pass through.
func (ew *etagWriter) release() error {
	ew.state = ewPass
	ew.w.WriteHeader(http.StatusOK)
	var err error
	if ew.buf != nil && len(*ew.buf) > 0 {
		_, err = ew.w.Write(*ew.buf)
	}
	ew.putBuf()
	return err
}

func (ew *etagWriter) putBuf() {
	if ew.buf != nil {
		if cap(*ew.buf) <= etagPoolMax {
			*ew.buf = (*ew.buf)[:0]
			ew.e.bufs.Put(ew.buf)
		}
		ew.buf = nil
	}
}

// WriteString is Write for a string.
func (ew *etagWriter) WriteString(s string) (int, error) {
	if ew.state == ewPass {
		return io.WriteString(ew.w, s)
	}
	if ew.state == ewHold && ew.buf != nil && len(*ew.buf)+len(s) <= ew.e.maxSize {
		*ew.buf = append(*ew.buf, s...)
		return len(s), nil
	}
	return ew.Write([]byte(s))
}

// ReadFrom copies src to the body, through the wrapped writer's ReadFrom
// once the body passes through.
func (ew *etagWriter) ReadFrom(src io.Reader) (int64, error) {
	if ew.state == ewPass {
		if rf, ok := ew.w.(io.ReaderFrom); ok {
			return rf.ReadFrom(src)
		}
	}
	return io.Copy(writerOnly{ew}, src)
}

// FlushError sends the response so far without a tag, and flushes.
func (ew *etagWriter) FlushError() error {
	if ew.state == ewInit {
		ew.WriteHeader(http.StatusOK)
	}
	switch ew.state {
	case ewHold:
		if err := ew.release(); err != nil {
			return err
		}
	case ewHijacked:
		return http.ErrHijacked
	case ewDone:
		return errETagDone
	}
	return http.NewResponseController(ew.w).Flush()
}

// Flush is FlushError for code that asserts http.Flusher.
func (ew *etagWriter) Flush() { _ = ew.FlushError() }

// Hijack hands the connection to the handler, once what was written has
// been sent.
func (ew *etagWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if ew.state == ewHold {
		ew.release()
	}
	conn, brw, err := http.NewResponseController(ew.w).Hijack()
	if err == nil {
		ew.state = ewHijacked
	}
	return conn, brw, err
}

// finish tags a response held back and answers the request with it.
func (ew *etagWriter) finish() {
	if ew.state == ewInit {
		ew.WriteHeader(http.StatusOK) // what net/http would send
	}
	if ew.state == ewHold {
		var body []byte
		if ew.buf != nil {
			body = *ew.buf
		}
		h := ew.w.Header()
		if len(body) == 0 && ew.r.Method == http.MethodHead && !(len(h["Content-Length"]) == 1 && h["Content-Length"][0] == "0") {
			ew.release() // the GET body is unknown: no tag
		} else {
			ew.tag(h, body)
		}
	}
	ew.putBuf()
	ew.state = ewDone
}

// tag sets the entity tag of body, and answers with it.
func (ew *etagWriter) tag(h http.Header, body []byte) {
	sum := sha256.Sum256(body)
	var b [2 + 1 + 32 + 1]byte
	n := copy(b[:], `W/"`)
	if !ew.e.weak {
		n = copy(b[:], `"`)
	}
	n += hex.Encode(b[n:], sum[:16])
	b[n] = '"'
	tag := string(b[:n+1])
	h["Etag"] = []string{tag}
	if len(h["Content-Length"]) == 0 && len(h["Transfer-Encoding"]) == 0 {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	ew.respond(tag)
	if ew.state == ewPass && len(body) > 0 {
		ew.w.Write(body)
	}
}

// etagListMatch reports whether the If-Match or If-None-Match field
// values, a list of entity tags or "*", hold one that matches tag, by
// weak comparison (W/ ignored) or strong comparison (neither tag weak).
// A malformed list matches nothing from the first error on.
func etagListMatch(values []string, tag string, weak bool) bool {
	tagWeak := len(tag) >= 2 && tag[0] == 'W' && tag[1] == '/'
	if tagWeak {
		tag = tag[2:]
	}
	for _, v := range values {
		for {
			v = etagTrimSep(v)
			if v == "" {
				break
			}
			if v[0] == '*' {
				rest := strings.TrimLeft(v[1:], " \t")
				return rest == "" || rest[0] == ','
			}
			isWeak := false
			if len(v) >= 2 && v[0] == 'W' && v[1] == '/' {
				isWeak, v = true, v[2:]
			}
			if len(v) < 2 || v[0] != '"' {
				return false
			}
			end := 1
			for end < len(v) && v[end] != '"' {
				end++
			}
			if end == len(v) {
				return false
			}
			if v[:end+1] == tag && (weak || !isWeak && !tagWeak) {
				return true
			}
			v = v[end+1:]
			// After a tag: only OWS, then a comma or the end.
			for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
				v = v[1:]
			}
			if v != "" && v[0] != ',' {
				return false
			}
		}
	}
	return false
}

// etagTrimSep drops the OWS and commas that separate list elements.
func etagTrimSep(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == ',') {
		s = s[1:]
	}
	return s
}
