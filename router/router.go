package router

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Router is an http.Handler that dispatches requests by method and path
// to the handlers registered for ServeMux-style patterns. Routers made by
// With, Group and Route share their parent's routes and add to them.
//
// Register routes before serving; a Router is safe for concurrent use by
// requests once registration is done.
type Router struct {
	mux    *mux
	prefix string                            // path prefix of a Route
	inline []func(http.Handler) http.Handler // middleware for routes registered here
	sub    bool                              // made by With, Group or Route
	used   bool                              // a route was registered through this Router
}

// mux is the state that a Router and its sub-routers share.
type mux struct {
	root    *node
	hosts   map[string]*node // roots of host-qualified patterns
	statics map[string]*leaf // fully static, host-less patterns by path
	// staticSeen has a bit for each (length, first byte) of the paths in
	// statics, so most paths of parameter routes skip hashing.
	staticSeen [64]uint64
	routes     []*route // in registration order

	mws   []func(http.Handler) http.Handler
	serve http.Handler // mws around dispatch

	notFound, methodNotAllowed http.Handler
	redirectSlash              bool
}

// An Option configures a Router made by New.
type Option func(*mux)

// RedirectTrailingSlash decides whether the router redirects between "/x"
// and "/x/". With on (the default), a request for "/x" is redirected with
// 308 Permanent Redirect to "/x/" when "/x/" would match exactly for its
// method and "/x" matches nothing or only a subtree above it, as
// net/http.ServeMux does (so it wins over a 405, and over "/" serving
// "/x"); and a request for "/x/" that matches nothing is redirected to
// "/x" when that matches. With off, such requests are routed as they are:
// 404, 405, or the subtree above.
func RedirectTrailingSlash(on bool) Option {
	return func(m *mux) { m.redirectSlash = on }
}

// New returns an empty Router.
func New(opts ...Option) *Router {
	m := &mux{
		root:             &node{},
		statics:          make(map[string]*leaf),
		notFound:         http.HandlerFunc(http.NotFound),
		methodNotAllowed: http.HandlerFunc(methodNotAllowed),
		redirectSlash:    true,
	}
	for _, o := range opts {
		o(m)
	}
	m.serve = http.HandlerFunc(m.dispatch)
	return &Router{mux: m}
}

func methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
}

// ServeHTTP dispatches req through the router's middleware to the handler
// of the most specific matching route.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if len(r.mux.mws) == 0 {
		r.mux.dispatch(w, req) // a direct call, not through a method value
		return
	}
	r.mux.serve.ServeHTTP(w, req)
}

// Handle registers h for pattern, in the syntax of net/http.ServeMux:
// "[METHOD ][HOST]/[PATH]", where a path segment may be a wildcard {name},
// the last one may be {name...} (the rest of the path) or {$} (the path
// ends after the slash), and a trailing slash means the whole subtree.
// Handle panics if the pattern is invalid or if a route with the same
// method and the same shape exists, even with other wildcard names.
func (r *Router) Handle(pattern string, h http.Handler) {
	if h == nil {
		panic(fmt.Sprintf("router: nil handler for pattern %q", pattern))
	}
	full, err := r.withPrefix(pattern)
	if err != nil {
		panic(fmt.Sprintf("router: pattern %q: %v", pattern, err))
	}
	p, err := parsePattern(full)
	if err != nil {
		panic(fmt.Sprintf("router: pattern %q: %v", full, err))
	}
	r.used = true
	r.mux.add(p, chain(r.inline, h), len(r.inline))
}

// HandleFunc registers f for pattern, as Handle does.
func (r *Router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	r.Handle(pattern, http.HandlerFunc(f))
}

// Method registers h for pattern, a path without a method, and method.
func (r *Router) Method(method, pattern string, h http.Handler) {
	if strings.ContainsAny(pattern, " \t") {
		panic(fmt.Sprintf("router: Method(%q, %q): the pattern already names a method", method, pattern))
	}
	r.Handle(method+" "+pattern, h)
}

// Get registers h for GET requests (and so HEAD, and RFC 8441 extended
// CONNECT such as WebSockets over HTTP/2, which h must accept with
// AcceptExtendedConnect, as the websocket package does) to pattern.
func (r *Router) Get(pattern string, h http.HandlerFunc) { r.Method(http.MethodGet, pattern, h) }

// Head registers h for HEAD requests to pattern.
func (r *Router) Head(pattern string, h http.HandlerFunc) { r.Method(http.MethodHead, pattern, h) }

// Post registers h for POST requests to pattern.
func (r *Router) Post(pattern string, h http.HandlerFunc) { r.Method(http.MethodPost, pattern, h) }

// Put registers h for PUT requests to pattern.
func (r *Router) Put(pattern string, h http.HandlerFunc) { r.Method(http.MethodPut, pattern, h) }

// Patch registers h for PATCH requests to pattern.
func (r *Router) Patch(pattern string, h http.HandlerFunc) { r.Method(http.MethodPatch, pattern, h) }

// Delete registers h for DELETE requests to pattern.
func (r *Router) Delete(pattern string, h http.HandlerFunc) { r.Method(http.MethodDelete, pattern, h) }

// Options registers h for OPTIONS requests to pattern, in place of the
// router's automatic answer.
func (r *Router) Options(pattern string, h http.HandlerFunc) {
	r.Method(http.MethodOptions, pattern, h)
}

// Connect registers h for CONNECT requests to pattern.
func (r *Router) Connect(pattern string, h http.HandlerFunc) {
	r.Method(http.MethodConnect, pattern, h)
}

// Use appends middleware. On the router made by New it wraps every
// request the router answers, 404, 405 and the automatic OPTIONS and HEAD
// answers included; it runs before routing, so r.Pattern and r.PathValue
// are set only once it calls the next handler. On a router made by With,
// Group or Route it wraps the routes registered through that router, and
// must come before them.
func (r *Router) Use(mws ...func(http.Handler) http.Handler) {
	if r.sub {
		if r.used {
			panic("router: Use on a group after routes were registered on it; call Use first")
		}
		r.inline = append(r.inline, mws...)
		return
	}
	r.mux.mws = append(r.mux.mws, mws...)
	r.mux.serve = chain(r.mux.mws, http.HandlerFunc(r.mux.dispatch))
}

// With returns a router that registers routes on r with mws around each.
func (r *Router) With(mws ...func(http.Handler) http.Handler) *Router {
	return &Router{mux: r.mux, prefix: r.prefix, inline: append(slices.Clip(r.inline), mws...), sub: true}
}

// Group calls fn with a router that registers routes on r; middleware
// that fn adds with Use applies to those routes only.
func (r *Router) Group(fn func(r *Router)) *Router {
	g := r.With()
	if fn != nil {
		fn(g)
	}
	return g
}

// Route calls fn with a router whose patterns are below prefix, which may
// hold wildcards: in Route("/users/{id}", fn), fn's Get("/posts", h)
// registers "GET /users/{id}/posts", and Get("/", h) registers
// "GET /users/{id}" itself.
func (r *Router) Route(prefix string, fn func(r *Router)) *Router {
	full, err := r.joinPrefix(prefix)
	if err != nil {
		panic(fmt.Sprintf("router: Route(%q): %v", prefix, err))
	}
	g := r.With()
	g.prefix = full
	if fn != nil {
		fn(g)
	}
	return g
}

// Mount hands every request for prefix and the paths below it, whatever
// its method, to h with the prefix stripped from the URL's path, the way
// http.StripPrefix does: a sub-router, an http.ServeMux, an
// http.FileServer, another framework's router. The prefix may not hold
// wildcards. A Router mounted this way (at any depth) puts the prefix
// back in front of the Location of its redirects, so that they lead
// where the client's path was, not to the root.
func (r *Router) Mount(prefix string, h http.Handler) {
	full, err := r.joinPrefix(prefix)
	if err != nil || strings.ContainsAny(full, "{}") || full == "" {
		panic(fmt.Sprintf("router: Mount(%q): the prefix must be a path like /api, without wildcards", prefix))
	}
	escapedFull := (&url.URL{Path: full}).EscapedPath()
	strip := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u := new(url.URL)
		*u = *req.URL
		u.Path = "/" + strings.TrimLeft(strings.TrimPrefix(req.URL.Path, full), "/")
		mt := &mounted{prefix: escapedFull, path: u.Path}
		if outer := mountedOf(req); outer != nil {
			mt.prefix = outer.prefix + escapedFull
		}
		r2 := req.WithContext(context.WithValue(req.Context(), mountedKey{}, mt))
		if rp, ok := strings.CutPrefix(req.URL.RawPath, full); ok {
			u.RawPath = "/" + strings.TrimLeft(rp, "/")
		} else {
			u.RawPath = ""
		}
		r2.URL = u
		h.ServeHTTP(w, r2)
	})
	sub := &Router{mux: r.mux, inline: r.inline, sub: true}
	sub.Handle(full, strip)
	sub.Handle(full+"/", strip)
	r.used = true
}

// mounted is what Mount records in the context of a request it hands on:
// the prefixes it stripped, escaped, outermost first, and the path it
// handed on.
type mounted struct{ prefix, path string }

// mountedKey is the context key of a *mounted.
type mountedKey struct{}

// mountedOf returns what Mount recorded for req, or nil if req is not
// the request that a Mount handed on (a handler in between changed its
// path, as http.StripPrefix does, or no Mount is above).
func mountedOf(req *http.Request) *mounted {
	if m, _ := req.Context().Value(mountedKey{}).(*mounted); m != nil && m.path == req.URL.Path {
		return m
	}
	return nil
}

// NotFound sets the handler for requests that match no route (default
// http.NotFound).
func (r *Router) NotFound(h http.Handler) { r.mux.notFound = h }

// MethodNotAllowed sets the handler for requests whose path matches routes
// of other methods only. The Allow header is set before it runs.
func (r *Router) MethodNotAllowed(h http.Handler) { r.mux.methodNotAllowed = h }

// joinPrefix returns r's prefix followed by prefix, without a trailing
// slash.
func (r *Router) joinPrefix(prefix string) (string, error) {
	if !strings.HasPrefix(prefix, "/") {
		return "", fmt.Errorf("prefix must begin with '/'")
	}
	return r.prefix + strings.TrimRight(prefix, "/"), nil
}

// withPrefix puts r's prefix in front of pattern's path.
func (r *Router) withPrefix(pattern string) (string, error) {
	if r.prefix == "" {
		return pattern, nil
	}
	method, p := "", pattern
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		method, p = pattern[:i+1], strings.TrimLeft(pattern[i+1:], " \t")
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("a pattern inside Route(%q) must be a path beginning with '/', without a host", r.prefix)
	}
	if p == "/" {
		return method + r.prefix, nil
	}
	return method + r.prefix + p, nil
}

// add inserts a route for p, or panics on a conflict.
func (m *mux) add(p *pattern, h http.Handler, middlewares int) {
	rt := &route{pat: p, handler: h, middlewares: middlewares}
	for _, s := range p.segs {
		if s.kind == segParam || s.kind == segMulti {
			rt.names = append(rt.names, s.text)
		}
		rt.rest = s.kind == segMulti
	}
	root := m.root
	if host := strings.ToLower(p.host); host != "" {
		if m.hosts == nil {
			m.hosts = make(map[string]*node)
		}
		if m.hosts[host] == nil {
			m.hosts[host] = &node{}
		}
		root = m.hosts[host]
	}
	if old := root.insert(rt); old != nil {
		panic(fmt.Sprintf("router: pattern %q conflicts with %q, registered earlier: same method and same path shape", p.str, old.pat.str))
	}
	if p.host == "" && p.static() {
		var texts []string
		slashed := false // only escaped paths can match: the tree serves them
		for _, s := range p.segs {
			texts = append(texts, s.text)
			slashed = slashed || strings.IndexByte(s.text, '/') >= 0
		}
		if n := root.insertRun(texts); !slashed {
			key := "/" + strings.Join(texts, "/")
			m.statics[key] = n.end
			row, col := staticBit(key)
			m.staticSeen[row] |= 1 << col
		}
	}
	m.routes = append(m.routes, rt)
}

// chain wraps h in mws, the first outermost.
func chain(mws []func(http.Handler) http.Handler, h http.Handler) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// dispatch routes req: it cleans the path, finds the route, sets r.Pattern
// and the path values, and answers what no route does (404, 405, OPTIONS).
func (m *mux) dispatch(w http.ResponseWriter, req *http.Request) {
	p, escaped := req.URL.Path, false
	if req.URL.RawPath != "" {
		if ep := req.URL.EscapedPath(); ep != p {
			p, escaped = ep, true
		}
	}
	// Field by field: a composite literal is built aside and copied, and
	// that copy stalls on the stores it reads back (2% of GithubAll).
	var mt matcher
	mt.method, mt.mi, mt.escaped, mt.req = req.Method, methodIndex(req.Method), escaped, req
	if mt.mi == anyMethod { // an empty method means GET in net/http
		mt.method, mt.mi = http.MethodGet, mGET
	}
	if mt.mi == mCONNECT {
		mt.extConnect = len(req.Header[":protocol"]) > 0
		if p == "" && !mt.extConnect {
			p = "/" // authority-form: "CONNECT host:port"
		}
	}
	// A path with a NUL byte gets 400. No route matches one (patterns
	// cannot hold NUL, wildcards do not take it), so unless the path is
	// escaped, when a decoded value could hold one, it is looked for only
	// when nothing matched.
	if p == "" || p[0] != '/' || escaped && strings.IndexByte(req.URL.Path, 0) >= 0 {
		badPath(w)
		return
	}
	// Static segments and wildcards never match an empty, "." or ".."
	// segment, and a final {name...} takes no remainder with one (unless
	// the request is a plain CONNECT, whose path is not cleaned), so a path
	// that needs cleaning matches nothing: it is looked for only then.
	mt.clean = mt.mi != mCONNECT || mt.extConnect
	mt.slashes = m.redirectSlash
	// As in ServeMux, "/x" is redirected to "/x/" when that would match
	// exactly (a subtree or {$} that takes nothing more) and "/x" matches
	// nothing, or only a subtree above, which takes the rest: then match
	// saw "/x/"'s route on its way and set mt.slash.
	rt := m.lookup(&mt, req.Host, p)
	if rt != nil && !(mt.slash && rt.rest) {
		req.Pattern = rt.pat.str
		if mt.extConnect && rt.pat.method == http.MethodGet {
			serveTunnel(rt.handler, w, req)
			return
		}
		rt.handler.ServeHTTP(w, req)
		return
	}
	mt.req = nil
	if mt.slash {
		redirect(w, req, p+"/", escaped)
		return
	}
	if strings.IndexByte(p, 0) >= 0 {
		badPath(w)
		return
	}
	if mt.clean && needsClean(p) {
		redirect(w, req, cleanPath(p), escaped)
		return
	}
	if mt.clean && escaped && needsClean(req.URL.Path) {
		// Dot segments spelled with escapes (%2E%2E): cleaning the decoded
		// path could change where its escaped slashes fall.
		http.Error(w, "400 bad request: escaped dot segments in path", http.StatusBadRequest)
		return
	}
	m.miss(w, req, &mt, p)
}

func badPath(w http.ResponseWriter) {
	http.Error(w, "400 bad request: malformed path", http.StatusBadRequest)
}

// lookup finds the route for path p: host-qualified patterns first, then
// fully static ones by a single map lookup, then the tree.
func (m *mux) lookup(mt *matcher, host, p string) *route {
	if m.hosts != nil {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if n := m.hosts[strings.ToLower(host)]; n != nil {
			if rt := mt.match(n, p[1:], 0); rt != nil {
				return rt
			}
		}
	}
	if row, col := staticBit(p); !mt.escaped && mt.allowed == nil && m.staticSeen[row]&(1<<col) != 0 {
		if l := m.statics[p]; l != nil {
			if rt := l.pick(mt); rt != nil {
				return rt
			}
		}
	}
	return mt.match(m.root, p[1:], 0)
}

// staticBit returns the position of path p's bit in mux.staticSeen.
func staticBit(p string) (row, col int) {
	first := byte(0)
	if len(p) > 1 {
		first = p[1]
	}
	return len(p) & 63, int(first & 63)
}

// miss answers a request that no route takes: 204 with Allow for OPTIONS
// and 405 with Allow when the path has routes for other methods, a 308 to
// the registered form when only the trailing slash differs, else 404.
func (m *mux) miss(w http.ResponseWriter, req *http.Request, mt *matcher, p string) {
	mt.allowed = map[string]bool{}
	m.lookup(mt, req.Host, p)
	if len(mt.allowed) > 0 {
		w.Header().Set("Allow", allowHeader(mt.allowed))
		if mt.mi == mOPTIONS {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		m.methodNotAllowed.ServeHTTP(w, req)
		return
	}
	if m.redirectSlash && len(p) > 1 && p[len(p)-1] == '/' {
		// The reverse of ServeMux's redirect, which molt adds: "/x/" to
		// "/x" when only that matches.
		alt := p[:len(p)-1]
		alt2 := matcher{method: mt.method, mi: mt.mi, extConnect: mt.extConnect, escaped: mt.escaped, clean: mt.clean}
		if m.lookup(&alt2, req.Host, alt) != nil {
			redirect(w, req, alt, mt.escaped)
			return
		}
	}
	if mt.extConnect {
		serveTunnel(m.notFound, w, req) // an SPA's index.html must not open a tunnel
		return
	}
	m.notFound.ServeHTTP(w, req)
}

// redirect sends a 308 to path p, in the form dispatch matched (escaped
// if escaped, else decoded), with the request's query; 308 keeps the
// method and body, unlike 301.
//
// The Location is always the escaped path, as net/http.ServeMux sends: a
// decoded path can hold a backslash, which browsers read as a slash (so
// "/\evil.com" would name another host), or '?', '#', a space or a tab,
// which would end the path or be dropped. A clean escaped path begins
// with one '/' and then a byte that is neither '/' nor '\', so the
// Location is always a path on the same origin. (A plain CONNECT's path
// is not cleaned, but no route takes "//x" and not "//x/"; should one
// ever be redirected, it gets 400, never a Location naming a host.)
//
// Below a Mount, p is the path the mounted router saw, and the prefixes
// that Mount stripped are put back in front of it.
func redirect(w http.ResponseWriter, req *http.Request, p string, escaped bool) {
	if !escaped {
		p = (&url.URL{Path: p}).EscapedPath()
	}
	if m := mountedOf(req); m != nil {
		p = m.prefix + p
	}
	if len(p) > 1 && p[1] == '/' {
		badPath(w)
		return
	}
	if req.URL.RawQuery != "" {
		p += "?" + escapeQuery(req.URL.RawQuery)
	}
	w.Header().Set("Location", p)
	w.WriteHeader(http.StatusPermanentRedirect)
}

// escapeQuery returns the raw query q with every byte that may not stand
// in a URI's query (RFC 3986 section 3.4) percent-encoded, among them '#'
// (a request target has no fragment, so one is part of the query), spaces
// and controls, and a '%' that begins no escape. A valid query is
// returned as it is.
func escapeQuery(q string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		if queryByte[c] || c == '%' && i+2 < len(q) && isHex(q[i+1]) && isHex(q[i+2]) {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(q)+8), q[:i]...)
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	if b == nil {
		return q
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// queryByte marks the bytes that stand for themselves in a query:
// unreserved, sub-delims, ':', '@', '/' and '?' (RFC 3986 appendix A).
var queryByte = func() (t [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?") {
		t[c] = true
	}
	return t
}()

// needsClean reports whether path p has an empty, "." or ".." segment.
func needsClean(p string) bool {
	if strings.Contains(p, "//") {
		return true
	}
	for i := strings.Index(p, "/."); i >= 0; {
		rest := p[i+2:]
		if rest == "" || rest[0] == '/' || rest[0] == '.' && (len(rest) == 1 || rest[1] == '/') {
			return true
		}
		j := strings.Index(rest, "/.")
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return false
}

// uncleanRest reports whether rest, what a {name...} took (the path after
// a slash), has an empty, "." or ".." segment, decoded if escaped.
func uncleanRest(rest string, escaped bool) bool {
	if escaped && strings.IndexByte(rest, '%') >= 0 {
		rest, _ = url.PathUnescape(rest)
	}
	if rest == "" {
		return false
	}
	first, _, _ := strings.Cut(rest, "/")
	return first == "" || first == "." || first == ".." || needsClean(rest)
}

// cleanPath is path.Clean keeping a trailing slash.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
