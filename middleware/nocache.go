package middleware

import "net/http"

// NoCache is a middleware that keeps clients and caches from storing or
// reusing responses, and makes the handler produce a full response every
// time.
//
// Before the handler runs, it sets on the response
//
//	Cache-Control: no-cache, no-store, must-revalidate
//	Pragma: no-cache
//	Expires: 0
//
// (Pragma and the invalid date in Expires, which caches read as already
// expired, are for HTTP/1.0 caches), replacing what was there; a handler
// can still change them. And it removes from the request the fields by
// which a client revalidates a copy it kept: If-None-Match and
// If-Modified-Since, so that the handler (or ETag, or
// http.ServeContent) never answers 304; and If-Range together with
// Range, so that a partial response is never stitched onto a stale copy
// (a plain Range, without If-Range, stays). If-Match and
// If-Unmodified-Since stay: they are preconditions that protect writes
// from lost updates, not cache validators. Validators the handler sets
// on its response (ETag, Last-Modified) are left alone. The request is
// copied, not changed, and only when it has one of those fields.
func NoCache(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		v := new([3]string) // one allocation for the three values
		*v = [3]string{"no-cache, no-store, must-revalidate", "no-cache", "0"}
		h["Cache-Control"] = v[0:1:1]
		h["Pragma"] = v[1:2:2]
		h["Expires"] = v[2:3:3]
		_, inm := r.Header["If-None-Match"]
		_, ims := r.Header["If-Modified-Since"]
		_, ir := r.Header["If-Range"]
		if inm || ims || ir {
			r2 := new(http.Request)
			*r2 = *r
			r2.Header = r.Header.Clone()
			delete(r2.Header, "If-None-Match")
			delete(r2.Header, "If-Modified-Since")
			if ir {
				delete(r2.Header, "If-Range")
				delete(r2.Header, "Range")
			}
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}
