package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"
)

// RequestIDOptions configures RequestID. The zero value is ready to use.
type RequestIDOptions struct {
	// Header is the request and response header field that carries the
	// ID. Default "X-Request-Id".
	Header string

	// Generate returns a new ID. It must be safe for concurrent use, and
	// should return at most 128 bytes of visible ASCII, since the ID goes
	// into a response header and into logs. Default: a random prefix
	// chosen once per process, a dash and a counter, such as
	// "8f3a9c04d2b1e7a6-42": unique within the process, and across
	// processes with overwhelming probability, at the cost of one small
	// allocation per request.
	Generate func() string

	// IgnoreIncoming makes RequestID always generate a new ID, even when
	// the request brings an acceptable one. By default an incoming ID is
	// kept, so that an ID set by a proxy or a calling service follows the
	// request; set IgnoreIncoming on a server that faces clients directly
	// and should not let them choose the IDs in its logs.
	IgnoreIncoming bool
}

// maxRequestIDLen is the longest incoming ID that RequestID accepts.
const maxRequestIDLen = 128

// RequestID gives every request an ID: the one the request carries in the
// Header field, if it is acceptable, or else a new one from Generate. An
// incoming ID is acceptable if it is a single field of 1 to 128 bytes of
// visible ASCII (no spaces, no control characters, nothing beyond ASCII),
// so a forged or garbage value never reaches a log or another service
// verbatim. The ID is set on the response's Header field before the next
// handler runs, and is available to it and to the middleware after it
// through RequestIDFrom; Logger and Recoverer log it.
//
// RequestID works alike on every protocol, and for upgrades.
func RequestID(o RequestIDOptions) func(http.Handler) http.Handler {
	header := o.Header
	if header == "" {
		header = "X-Request-Id"
	}
	if !httpguts.ValidHeaderFieldName(header) {
		panic("middleware: RequestID: invalid header name " + strconv.Quote(header))
	}
	header = http.CanonicalHeaderKey(header)
	generate := o.Generate
	if generate == nil {
		generate = newRequestID
	}
	ignore := o.IgnoreIncoming
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var id string
			if !ignore {
				if v := r.Header[header]; len(v) == 1 && validRequestID(v[0]) {
					id = v[0]
				}
			}
			if id == "" {
				id = generate()
			}
			r, info := withInfo(r)
			info.id, info.idField[0] = id, id
			w.Header()[header] = info.idField[:]
			next.ServeHTTP(w, r)
		})
	}
}

// RequestIDFrom returns the ID that RequestID gave the request whose
// context is ctx, or "" if RequestID did not run.
func RequestIDFrom(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// validRequestID reports whether an incoming ID is 1 to 128 bytes of
// visible ASCII.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// requestIDPrefix is the random part of the default IDs, chosen once per
// process; requestIDCounter numbers the IDs.
var (
	requestIDPrefix  = newRequestIDPrefix()
	requestIDCounter atomic.Uint64
)

func newRequestIDPrefix() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:]) + "-"
}

// newRequestID is the default Generate: prefix, dash, counter, built in
// one allocation.
func newRequestID() string {
	var buf [40]byte
	b := append(buf[:0], requestIDPrefix...)
	b = strconv.AppendUint(b, requestIDCounter.Add(1), 10)
	return string(b)
}
