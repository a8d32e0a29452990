package router_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/router"
)

// redirectBase is the URL a browser would resolve the router's redirects
// against in these tests.
const redirectBase = "http://example.com/base/page"

// whatwgOrigin returns the origin ("scheme://host[:port]") of ref resolved
// against base the way the WHATWG URL standard does, which is what every
// browser and Node's new URL do: leading and trailing C0 controls and
// spaces are stripped, tabs and newlines removed anywhere, and, for the
// special schemes, a backslash is a slash, so a reference that begins with
// two of them names a new authority. It handles what deciding the origin
// needs, no more: a scheme, an authority, or else the base's origin.
func whatwgOrigin(base *url.URL, ref string) string {
	ref = strings.TrimFunc(ref, func(r rune) bool { return r <= ' ' })
	ref = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, ref)
	scheme := base.Scheme
	if i := schemeEnd(ref); i > 0 {
		s := strings.ToLower(ref[:i])
		ref = ref[i+1:]
		if s != scheme {
			// Another scheme: another origin (an opaque one if not special).
			return s + ":" + ref
		}
		// The base's special scheme again: relative unless an authority
		// follows, as below.
	}
	slash := func(i int) bool { return i < len(ref) && (ref[i] == '/' || ref[i] == '\\') }
	if !slash(0) || !slash(1) {
		return base.Scheme + "://" + base.Host
	}
	// An authority: any run of slashes and backslashes, then up to the next
	// one of /\?#.
	rest := strings.TrimLeft(ref, `/\`)
	if i := strings.IndexAny(rest, `/\?#`); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if h, err := url.PathUnescape(rest); err == nil {
		rest = h
	}
	return scheme + "://" + strings.ToLower(rest)
}

// schemeEnd returns the index of the ':' that ends a scheme at the start
// of ref, or -1.
func schemeEnd(ref string) int {
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return -1
		}
	}
	return -1
}

func TestWHATWGOrigin(t *testing.T) {
	base, _ := url.Parse(redirectBase)
	same := "http://example.com"
	for ref, want := range map[string]string{
		"/a/b":                same,
		"/%5Cevil.com/":       same,
		"/%2F%2Fevil.com":     same,
		"a//b":                same,
		"?q=//evil.com":       same,
		"#//evil.com":         same,
		"http:/x":             same,
		"//evil.com/":         "http://evil.com",
		`/\evil.com/`:         "http://evil.com",
		`\\evil.com`:          "http://evil.com",
		`\/evil.com`:          "http://evil.com",
		"/\t/evil.com":        "http://evil.com",
		" //evil.com":         "http://evil.com",
		"/\n\\Evil.com:81/x":  "http://evil.com:81",
		"//u:p@evil.com/":     "http://evil.com",
		`http:\\evil.com`:     "http://evil.com",
		"https://example.com": "https://example.com",
		"javascript:alert(1)": "javascript:alert(1)",
	} {
		if got := whatwgOrigin(base, ref); got != want {
			t.Errorf("whatwgOrigin(%q) = %q, want %q", ref, got, want)
		}
	}
}

// redirectRouter is a router with routes of every kind that a redirect
// can lead to: the clean path, and either side of a trailing slash.
func redirectRouter() *router.Router {
	return newRouter("GET /dir/", "GET /file", "GET /p/{x}/", "GET /q/{x}", "GET /rest/{r...}")
}

// redirectTests are requests that the router redirects, with the path
// decoded into characters that mean something else in a URL reference:
// a backslash (a slash to browsers), '?', '#', a space, a tab (dropped by
// browsers), '%'. Each Location must be the escaped path.
var redirectTests = []struct {
	target   string // as sent; a path as dispatch sees it decodes the escapes
	location string
}{
	{"/%5Cevil.com//", "/%5Cevil.com/"},
	{"/%5C%5Cevil.com//", "/%5C%5Cevil.com/"},
	{"/%5Cevil.com/./", "/%5Cevil.com/"},
	{"/x/..%5Cevil.com//", "/x/..%5Cevil.com/"},
	{"/%09/evil.com//", "/%09/evil.com/"},
	{"/%0A/evil.com//", "/%0A/evil.com/"},
	{"/a%3Fb//", "/a%3Fb/"},
	{"/a%23b//", "/a%23b/"},
	{"/a%20b//", "/a%20b/"},
	{"/a%25b//", "/a%25b/"},
	{"/a%2Fb//", "/a%2Fb/"}, // an escaped slash stays one
	{"/caf%C3%A9//", "/caf%C3%A9/"},
	{"//evil.com/..", "/"},
	{"/.//evil.com", "/evil.com"},
	{"/..//evil.com/", "/evil.com/"},
	// Trailing-slash redirects, both ways, of paths with such characters.
	{"/p/%5Cevil.com", "/p/%5Cevil.com/"},
	{"/q/%5Cevil.com/", "/q/%5Cevil.com"},
	{"/p/a%3Fb", "/p/a%3Fb/"},
	{"/q/a%23b/", "/q/a%23b"},
	{"/rest", "/rest/"},
	// The query is kept, escaped where it would not be a query any more.
	{"//file?a=%5C&b=//evil.com", "/file?a=%5C&b=//evil.com"},
	{"/dir?next=/%5Cevil.com", "/dir/?next=/%5Cevil.com"},
}

func TestRedirectsAreEscapedAndSameOrigin(t *testing.T) {
	base, _ := url.Parse(redirectBase)
	r := redirectRouter()
	for _, tt := range redirectTests {
		w := serve(r, "GET", tt.target)
		loc := w.Header().Get("Location")
		if w.Code != http.StatusPermanentRedirect || loc != tt.location {
			t.Errorf("GET %s: %d to %q, want 308 to %q", tt.target, w.Code, loc, tt.location)
		}
		if o := whatwgOrigin(base, loc); o != "http://example.com" {
			t.Errorf("GET %s: Location %q resolves to origin %q", tt.target, loc, o)
		}
	}
	// The decoded path as a handler in front of the router might set it,
	// and a raw '#' that reached the query (a request target has no
	// fragment).
	for _, tt := range []struct{ path, query, location string }{
		{`/\evil.com//`, "", "/%5Cevil.com/"},
		{"/\t/evil.com//", "", "/%09/evil.com/"},
		{"/a?b#c//", "", "/a%3Fb%23c/"},
		{"//file", "a#b", "/file?a%23b"},
		{"//file", "a b\"<>\\^`{|}\x7f\xff", "/file?a%20b%22%3C%3E%5C%5E%60%7B%7C%7D%7F%FF"},
		{"//file", "100%&x=%zz", "/file?100%25&x=%25zz"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = tt.path, "", tt.query
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if loc := w.Header().Get("Location"); w.Code != http.StatusPermanentRedirect || loc != tt.location {
			t.Errorf("path %q query %q: %d to %q, want 308 to %q", tt.path, tt.query, w.Code, loc, tt.location)
		}
	}
}

// TestRedirectsOnEveryProtocol sends the redirected requests to a live
// server in every client mode, checks each Location as a browser would
// resolve it, then follows it and expects no further redirect.
func TestRedirectsOnEveryProtocol(t *testing.T) {
	base, _ := url.Parse(redirectBase)
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		ts := h2ctest.NewServer(t, redirectRouter())
		client := ts.Client(t, mode)
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		for _, tt := range redirectTests {
			resp, err := client.Get(ts.URL + tt.target)
			if err != nil {
				t.Fatalf("GET %s: %v", tt.target, err)
			}
			h2ctest.ReadBody(t, resp)
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusPermanentRedirect || loc != tt.location {
				t.Errorf("GET %s: %s to %q, want 308 to %q", tt.target, resp.Status, loc, tt.location)
				continue
			}
			if o := whatwgOrigin(base, loc); o != "http://example.com" {
				t.Errorf("GET %s: Location %q resolves to origin %q", tt.target, loc, o)
			}
			resp, err = client.Get(ts.URL + loc)
			if err != nil {
				t.Fatalf("GET %s (from %s): %v", loc, tt.target, err)
			}
			h2ctest.ReadBody(t, resp)
			if resp.StatusCode/100 == 3 {
				t.Errorf("GET %s (from %s): %s to %q, want no second redirect", loc, tt.target, resp.Status, resp.Header.Get("Location"))
			}
		}
	})
}

// TestRedirectsSameOriginInNode checks the Locations of redirectTests,
// and references that must not be emitted, with Node's WHATWG URL parser,
// a real peer for whatwgOrigin. Without node it skips, or fails when
// MOLT_REQUIRE_PEERS=1.
func TestRedirectsSameOriginInNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		msg := fmt.Sprintf("node not found in PATH: %v", err)
		if os.Getenv("MOLT_REQUIRE_PEERS") == "1" {
			t.Fatalf("MOLT_REQUIRE_PEERS=1: %s", msg)
		}
		t.Skip(msg)
	}
	base, _ := url.Parse(redirectBase)
	r := redirectRouter()
	// References whatwgOrigin must get right, then the router's.
	refs := []string{"//evil.com/", `/\evil.com/`, "/\t/evil.com", `\\evil.com`, "http:\\\\evil.com", "/a?b#c", " /\n/evil.com"}
	attacks := len(refs)
	for _, tt := range redirectTests {
		refs = append(refs, serve(r, "GET", tt.target).Header().Get("Location"))
	}
	var in bytes.Buffer
	for _, ref := range refs {
		b, _ := json.Marshal(ref)
		in.Write(append(b, '\n'))
	}
	const script = `
const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
for (const l of lines) console.log(new URL(JSON.parse(l), process.argv[1]).origin);`
	cmd := exec.Command(node, "-e", script, redirectBase)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for i, ref := range refs {
		if !sc.Scan() {
			t.Fatalf("node printed %d origins for %d references", i, len(refs))
		}
		nodeOrigin := sc.Text()
		if goOrigin := whatwgOrigin(base, ref); goOrigin != nodeOrigin {
			t.Errorf("%q: node resolves origin %q, whatwgOrigin %q", ref, nodeOrigin, goOrigin)
		}
		if i >= attacks && nodeOrigin != "http://example.com" {
			t.Errorf("the router's redirect to %q: node resolves it to origin %q", ref, nodeOrigin)
		}
	}
}

// FuzzRedirectSameOrigin sends random paths, made of pieces that mean
// something to a URL parser, both as a request target on the wire would
// arrive and as a decoded URL.Path, and checks that every redirect the
// router answers resolves, the WHATWG way, to a path on the same origin,
// and that following redirects ends within three hops.
func FuzzRedirectSameOrigin(f *testing.F) {
	for _, tt := range redirectTests {
		f.Add([]byte(tt.target[1:]))
	}
	f.Add([]byte{0, 1, 2, 3, 0, 0, 4, 5, 6})
	pieces := []string{"/", "/", "\\", ".", "..", "%5C", "%2F", "%2E", "%09", "%0A", "%3F", "%23", "%25", "%20", "?", "#", " ", "\t", "a", "p", "q", "dir", "evil.com", "%", "@", ":", "%C3%A9", "\xff"}
	base, _ := url.Parse(redirectBase)
	r := redirectRouter()
	r.Handle("GET /{a}/{b}/", reply("a", "b"))
	r.Handle("POST /{a}/{b}/{c}", reply("a", "b", "c"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64 {
			data = data[:64]
		}
		var b strings.Builder
		b.WriteByte('/')
		for _, c := range data {
			if int(c) < len(pieces) {
				b.WriteString(pieces[c])
			} else {
				b.WriteByte(c)
			}
		}
		target := b.String()
		for _, decoded := range []bool{false, true} {
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: example.com\r\n\r\n")))
			if decoded {
				req = httptest.NewRequest("GET", "/", nil)
				p, q, _ := strings.Cut(target, "?")
				req.URL.Path, req.URL.RawQuery = p, q
			} else if err != nil {
				continue // not a request target net/http accepts
			}
			for hop := 0; ; hop++ {
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				if w.Code/100 != 3 {
					break
				}
				loc := w.Header().Get("Location")
				if o := whatwgOrigin(base, loc); o != "http://example.com" {
					t.Fatalf("%q (decoded %v): %d to %q, which resolves to origin %q", target, decoded, w.Code, loc, o)
				}
				if len(loc) < 1 || loc[0] != '/' || len(loc) > 1 && (loc[1] == '/' || loc[1] == '\\') {
					t.Fatalf("%q (decoded %v): Location %q is not a path on this origin", target, decoded, loc)
				}
				if hop == 2 {
					t.Fatalf("%q (decoded %v): a third redirect, to %q", target, decoded, loc)
				}
				next, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + loc + " HTTP/1.1\r\nHost: example.com\r\n\r\n")))
				if err != nil {
					t.Fatalf("%q (decoded %v): Location %q is no request target: %v", target, decoded, loc, err)
				}
				req = next
			}
		}
	})
}

// TestMountRedirectKeepsPrefix: a Router mounted with Mount, at any
// depth, redirects to paths below the prefixes that Mount stripped, not
// to the root, and each Location still resolves to the same origin.
// Below a handler that changed the path again (http.StripPrefix), the
// router cannot know the path the client sent, and redirects as it did.
func TestMountRedirectKeepsPrefix(t *testing.T) {
	base, _ := url.Parse(redirectBase)
	sub := newRouter("GET /users/", "GET /item", "GET /%5Cevil.com/")
	inner := router.New()
	inner.Mount("/v1", newRouter("GET /users/"))
	r := router.New()
	r.Mount("/api", sub)
	r.Mount("/nest", inner)
	r.Mount("/std", http.StripPrefix("/x", newRouter("GET /users/")))
	for _, tt := range []struct{ target, location string }{
		{"/api/users", "/api/users/"},
		{"/api/users?q=1", "/api/users/?q=1"},
		{"/api/item/", "/api/item"},
		{"/api/%5Cevil.com", "/api/%5Cevil.com/"},
		{"/nest/v1/users", "/nest/v1/users/"},
		{"/std/x/users", "/users/"},
	} {
		w := serve(r, "GET", tt.target)
		loc := w.Header().Get("Location")
		if w.Code != http.StatusPermanentRedirect || loc != tt.location {
			t.Errorf("GET %s: %d to %q, want 308 to %q", tt.target, w.Code, loc, tt.location)
		}
		if o := whatwgOrigin(base, loc); o != "http://example.com" {
			t.Errorf("GET %s: Location %q resolves to origin %q", tt.target, loc, o)
		}
	}
}
