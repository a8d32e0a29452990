package server

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrNotInformational is returned by WriteInformational for a status code
// outside 100..199, or 101, which only the server itself may send.
var ErrNotInformational = errors.New("server: not an informational status code")

// WriteInformational sends an informational (1xx) response with exactly
// the header fields of h, on HTTP/1.1 and HTTP/2 alike, before the final
// response. The handler's own header map is left as it was. To an
// HTTP/1.0 client it sends nothing (RFC 9110 section 15.2) and returns
// nil. It fails once the final response header has gone out.
func WriteInformational(w http.ResponseWriter, r *http.Request, code int, h http.Header) error {
	if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
		return fmt.Errorf("%w: %d", ErrNotInformational, code)
	}
	if !r.ProtoAtLeast(1, 1) {
		return nil
	}
	hdr := w.Header()
	saved := hdr.Clone()
	clear(hdr)
	for k, v := range h {
		hdr[http.CanonicalHeaderKey(k)] = v
	}
	w.WriteHeader(code)
	clear(hdr)
	for k, v := range saved {
		hdr[k] = v
	}
	return nil
}

// EarlyHints sends 103 Early Hints with one Link field per link, such as
// `</app.css>; rel=preload; as=style`, so the client can start fetching
// while the handler prepares the final response (RFC 8297).
func EarlyHints(w http.ResponseWriter, r *http.Request, links ...string) error {
	return WriteInformational(w, r, http.StatusEarlyHints, http.Header{"Link": links})
}

// Processing sends 102 Processing, telling the client that a slow request
// is still being worked on (RFC 2518).
func Processing(w http.ResponseWriter, r *http.Request) error {
	return WriteInformational(w, r, http.StatusProcessing, nil)
}
