package middleware_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

var noCacheBody = []byte(strings.Repeat("0123456789", 100))

var noCacheModTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// noCacheContent serves noCacheBody with http.ServeContent, which answers
// conditional and range requests by itself, with an ETag and a
// modification time, and reports the validators it saw.
var noCacheContent = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	var seen []string
	for _, f := range []string{"If-None-Match", "If-Modified-Since", "If-Range", "Range", "If-Match", "If-Unmodified-Since"} {
		if r.Header.Get(f) != "" {
			seen = append(seen, f)
		}
	}
	w.Header().Set("X-Seen", strings.Join(seen, ","))
	w.Header().Set("ETag", `"v1"`)
	http.ServeContent(w, r, "x.txt", noCacheModTime, bytes.NewReader(noCacheBody))
})

func TestNoCache(t *testing.T) { h2ctest.Run(t, testNoCache) }

func testNoCache(t *testing.T, mode h2ctest.Mode) {
	// outer checks that NoCache changed a copy, not the request it got.
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			before := r.Header.Clone()
			next.ServeHTTP(w, r)
			if !noCacheEqualHeader(before, r.Header) {
				t.Errorf("the request's header changed under NoCache: %v, then %v", before, r.Header)
			}
		})
	}
	ts := h2ctest.NewServer(t, outer(middleware.NoCache(noCacheContent)))
	plain := h2ctest.NewServer(t, noCacheContent) // for contrast
	lastMod := noCacheModTime.Format(http.TimeFormat)
	tests := []struct {
		name        string
		fields      []string
		status      int // with NoCache
		plainStatus int // without
		seen        string
	}{
		{"plain", nil, 200, 200, ""},
		{"If-None-Match", []string{"If-None-Match", `"v1"`}, 200, 304, ""},
		{"If-Modified-Since", []string{"If-Modified-Since", lastMod}, 200, 304, ""},
		{"both", []string{"If-None-Match", `"v1"`, "If-Modified-Since", lastMod}, 200, 304, ""},
		{"If-Range", []string{"Range", "bytes=0-9", "If-Range", `"v1"`}, 200, 206, ""},
		{"Range", []string{"Range", "bytes=0-9"}, 206, 206, "Range"},
		{"If-Match", []string{"If-Match", `"v0"`}, 412, 412, "If-Match"},
		{"If-Unmodified-Since", []string{"If-Unmodified-Since", "Mon, 01 Jan 2024 00:00:00 GMT"}, 412, 412, "If-Unmodified-Since"},
	}
	for _, tt := range tests {
		resp, body := etagRequest(t, ts.Client(t, mode), "GET", ts.URL, tt.fields...)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		if got := resp.Header.Get("X-Seen"); got != tt.seen {
			t.Errorf("%s: the handler saw %q, want %q", tt.name, got, tt.seen)
		}
		if tt.status == 200 && !bytes.Equal(body, noCacheBody) {
			t.Errorf("%s: body of %d bytes, want %d", tt.name, len(body), len(noCacheBody))
		}
		for f, want := range map[string][]string{
			"Cache-Control": {"no-cache, no-store, must-revalidate"},
			"Pragma":        {"no-cache"},
			"Expires":       {"0"},
		} {
			if got := resp.Header.Values(f); !slices.Equal(got, want) {
				t.Errorf("%s: %s %q, want %q", tt.name, f, got, want)
			}
		}
		if resp, _ := etagRequest(t, plain.Client(t, mode), "GET", plain.URL, tt.fields...); resp.StatusCode != tt.plainStatus {
			t.Errorf("%s without NoCache: status %d, want %d", tt.name, resp.StatusCode, tt.plainStatus)
		}
	}
}

func noCacheEqualHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestNoCacheOverride checks that a handler can still set its own
// Cache-Control, and that a caching header from an outer layer is
// replaced.
func TestNoCacheOverride(t *testing.T) { h2ctest.Run(t, testNoCacheOverride) }

func testNoCacheOverride(t *testing.T, mode h2ctest.Mode) {
	mux := http.NewServeMux()
	mux.HandleFunc("/own", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=60")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=3600")
			w.Header().Set("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")
			next.ServeHTTP(w, r)
		})
	}
	ts := h2ctest.NewServer(t, outer(middleware.NoCache(mux)))
	for path, want := range map[string]string{"/own": "private, max-age=60", "/": "no-cache, no-store, must-revalidate"} {
		resp, _ := etagRequest(t, ts.Client(t, mode), "GET", ts.URL+path)
		if got := resp.Header.Values("Cache-Control"); !slices.Equal(got, []string{want}) {
			t.Errorf("%s: Cache-Control %q, want %q", path, got, want)
		}
		if got := resp.Header.Values("Expires"); !slices.Equal(got, []string{"0"}) {
			t.Errorf("%s: Expires %q, want [0]", path, got)
		}
	}
}
