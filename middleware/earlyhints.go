package middleware

import (
	"fmt"
	"net/http"

	"github.com/molt-http/molt/server"
	"golang.org/x/net/http/httpguts"
)

// EarlyHintsOptions configures EarlyHints. Its zero value sends nothing.
type EarlyHintsOptions struct {
	// Links are Link field values sent with every hint, such as
	// `</app.css>; rel=preload; as=style`.
	Links []string

	// LinksFunc, if set, returns more Link values for a request, sent
	// after Links; values that are not valid in a header field are left
	// out.
	LinksFunc func(r *http.Request) []string
}

// EarlyHints returns middleware that sends a 103 Early Hints response
// (RFC 8297) with one Link field per link before calling the next handler,
// so that a browser can start loading the page's resources while the
// handler prepares it.
//
// It sends hints only for GET requests (the navigations they are meant
// for), not for protocol upgrades (WebSockets), and never to HTTP/1.0
// clients, which know no 1xx responses; when there is no link to send,
// it sends nothing. It works alike on HTTP/1.1 and HTTP/2, through
// server.EarlyHints. Put it after middleware that may answer without
// calling the next handler (Health, CORS preflights, authentication), so
// that those answers get no hints.
//
// EarlyHints panics if a link in Links is empty or not a valid field
// value.
func EarlyHints(opts EarlyHintsOptions) func(http.Handler) http.Handler {
	for _, l := range opts.Links {
		if l == "" || !httpguts.ValidHeaderFieldValue(l) {
			panic(fmt.Sprintf("middleware: EarlyHints: Links: %q is not a valid Link field value", l))
		}
	}
	links := append([]string(nil), opts.Links...)
	linksFunc := opts.LinksFunc
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.ProtoAtLeast(1, 1) && !IsUpgrade(r) {
				send := links
				if linksFunc != nil {
					send = earlyHintsAppendLinks(links[:len(links):len(links)], linksFunc(r))
				}
				if len(send) > 0 {
					_ = server.EarlyHints(w, r, send...)
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func earlyHintsAppendLinks(dst, links []string) []string {
	for _, l := range links {
		if l != "" && httpguts.ValidHeaderFieldValue(l) {
			dst = append(dst, l)
		}
	}
	return dst
}
