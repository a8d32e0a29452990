package middleware

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// CORSOptions configures CORS. The zero value lets any origin make
// non-credentialed requests with the methods GET, HEAD and POST and the
// headers in DefaultCORSHeaders, exposes no response headers, and lets
// browsers cache no preflight answer beyond their own default.
type CORSOptions struct {
	// AllowedOrigins lists the origins allowed to make cross-origin
	// requests, each "scheme://host" or "scheme://host:port", compared
	// case-insensitively: "https://a.com" allows exactly that origin,
	// "https://*.a.com" any subdomain of a.com (not a.com itself, and only
	// on that scheme and port), "null" the opaque origin of sandboxed
	// documents and local files, and "*" any origin. Empty with no
	// AllowOriginFunc means "*".
	AllowedOrigins []string

	// AllowOriginFunc, if set, is asked about every well-formed origin
	// that AllowedOrigins does not allow, and allows it by returning true.
	AllowOriginFunc func(origin string, r *http.Request) bool

	// AllowedMethods lists the methods a preflight request may ask for,
	// compared case-sensitively as methods are. "*" allows any method.
	// Empty means GET, HEAD and POST.
	AllowedMethods []string

	// AllowedHeaders lists the request header fields a preflight request
	// may ask for, compared case-insensitively. "*" allows any field (the
	// answer then repeats the fields asked for, which also covers
	// Authorization). Empty means DefaultCORSHeaders.
	AllowedHeaders []string

	// ExposedHeaders lists the response header fields, beyond the
	// CORS-safelisted ones, that scripts may read. "*" means all of them
	// to browsers, but only for non-credentialed requests, so it cannot
	// be combined with AllowCredentials. Empty exposes none.
	ExposedHeaders []string

	// AllowCredentials lets requests carry cookies and HTTP
	// authentication. It needs AllowedOrigins or AllowOriginFunc, and
	// panics with "*" in AllowedOrigins.
	AllowCredentials bool

	// MaxAge is how long browsers may cache a preflight answer, sent in
	// whole seconds (at least 1). Zero sends no Access-Control-Max-Age, so
	// browsers use their default (5 seconds); a negative value sends 0,
	// which asks them not to cache it at all.
	MaxAge time.Duration

	// AllowPrivateNetwork answers preflight requests that carry
	// "Access-Control-Request-Private-Network: true" (Private Network
	// Access, sent by Chrome when a public page calls a private address)
	// with "Access-Control-Allow-Private-Network: true".
	AllowPrivateNetwork bool
}

// DefaultCORSHeaders are the request header fields that CORS allows when
// CORSOptions.AllowedHeaders is empty.
var DefaultCORSHeaders = []string{"Accept", "Accept-Language", "Content-Language", "Content-Type", "X-Requested-With"}

// maxOriginLen bounds the Origin values CORS looks at: a scheme, a host
// name of at most 253 bytes and a port fit with room to spare.
const maxOriginLen = 512

// originPattern is an allowed origin: exact, or a "*." wildcard between
// prefix ("https://") and suffix (".a.com").
type originPattern struct {
	prefix, suffix string
	wildcard       bool
}

type cors struct {
	any         bool // "*" in AllowedOrigins: any origin, answered with "*"
	origins     []originPattern
	originFunc  func(string, *http.Request) bool
	anyMethod   bool
	methods     []string
	anyHeader   bool
	headers     []string
	credentials bool
	pna         bool

	// Header values, built once; each slice has len == cap, so a later
	// Add by another handler copies it instead of writing into it.
	methodsValue, headersValue, exposedValue, maxAgeValue []string
	corsPreflightVary                                     []string
}

var (
	corsStar            = []string{"*"}
	corsTrue            = []string{"true"}
	corsVaryOrigin      = []string{"Origin"}
	corsPreflightVary   = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
	corsPreflightVaryPN = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network"}
)

// CORS returns middleware that implements Cross-Origin Resource Sharing
// (the Fetch standard's CORS protocol).
//
// It answers preflight requests itself, whatever the routes: an OPTIONS
// request with Origin and Access-Control-Request-Method gets 204 No
// Content and never reaches the next handler. If the origin, the method
// and every header asked for are allowed, the answer carries
// Access-Control-Allow-Origin, -Allow-Methods, -Allow-Headers,
// -Allow-Credentials and -Max-Age; if any of them is not, it carries no
// CORS field at all and the browser refuses the request.
//
// Other requests go to the next handler. When any origin is allowed,
// every response gets "Access-Control-Allow-Origin: *" (and
// Access-Control-Expose-Headers), whatever the request's Origin. Otherwise
// a request from an allowed origin gets Access-Control-Allow-Origin with
// that origin, Access-Control-Allow-Credentials and
// Access-Control-Expose-Headers; one from another origin, or with no or a
// malformed Origin, none of them; and every response carries
// "Vary: Origin", so caches keep the variants apart.
//
// Used with a router, put CORS in the top-level Use: it then runs before
// routing and answers preflights for routes that have no OPTIONS handler.
//
// CORS panics if the options are invalid: an origin that is not
// "scheme://host[:port]", "null" or "*", a method or header name that is
// not a token, or "*" origins or exposed headers with AllowCredentials.
func CORS(opts CORSOptions) func(http.Handler) http.Handler {
	c := newCORS(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions && len(r.Header["Origin"]) > 0 && r.Header.Get("Access-Control-Request-Method") != "" {
				c.preflight(w, r)
				return
			}
			c.actual(w, r)
			next.ServeHTTP(w, r)
		})
	}
}

func newCORS(opts CORSOptions) *cors {
	c := &cors{originFunc: opts.AllowOriginFunc, credentials: opts.AllowCredentials, pna: opts.AllowPrivateNetwork}
	if len(opts.AllowedOrigins) == 0 && opts.AllowOriginFunc == nil {
		if opts.AllowCredentials {
			panic("middleware: CORS: AllowCredentials needs AllowedOrigins or AllowOriginFunc (any origin with credentials is not allowed)")
		}
		c.any = true
	}
	for _, o := range opts.AllowedOrigins {
		if o == "*" {
			if opts.AllowCredentials {
				panic(`middleware: CORS: AllowedOrigins "*" cannot be combined with AllowCredentials; list the origins or use AllowOriginFunc`)
			}
			c.any = true
			continue
		}
		p, err := parseOriginPattern(o)
		if err != nil {
			panic(fmt.Sprintf("middleware: CORS: AllowedOrigins: %q %v", o, err))
		}
		c.origins = append(c.origins, p)
	}

	methods := opts.AllowedMethods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	}
	for _, m := range methods {
		switch {
		case m == "*":
			c.anyMethod = true
		case !corsIsToken(m):
			panic(fmt.Sprintf("middleware: CORS: AllowedMethods: %q is not a method", m))
		default:
			c.methods = append(c.methods, m)
		}
	}
	c.methodsValue = []string{strings.Join(c.methods, ", ")}

	headers := opts.AllowedHeaders
	if len(headers) == 0 {
		headers = DefaultCORSHeaders
	}
	for _, h := range headers {
		switch {
		case h == "*":
			c.anyHeader = true
		case !corsIsToken(h):
			panic(fmt.Sprintf("middleware: CORS: AllowedHeaders: %q is not a header field name", h))
		default:
			c.headers = append(c.headers, http.CanonicalHeaderKey(h))
		}
	}
	c.headersValue = []string{strings.Join(c.headers, ", ")}

	var exposed []string
	for _, h := range opts.ExposedHeaders {
		switch {
		case h == "*" && opts.AllowCredentials:
			panic(`middleware: CORS: ExposedHeaders "*" has no effect with AllowCredentials; list the fields`)
		case h != "*" && !corsIsToken(h):
			panic(fmt.Sprintf("middleware: CORS: ExposedHeaders: %q is not a header field name", h))
		case h == "*":
			exposed = append(exposed, h)
		default:
			exposed = append(exposed, http.CanonicalHeaderKey(h))
		}
	}
	if len(exposed) > 0 {
		c.exposedValue = []string{strings.Join(exposed, ", ")}
	}

	switch {
	case opts.MaxAge < 0:
		c.maxAgeValue = []string{"0"}
	case opts.MaxAge > 0:
		c.maxAgeValue = []string{strconv.FormatInt(max(1, int64(opts.MaxAge/time.Second)), 10)}
	}
	c.corsPreflightVary = corsPreflightVary
	if c.pna {
		c.corsPreflightVary = corsPreflightVaryPN
	}
	return c
}

// parseOriginPattern checks that o is "null" or "scheme://host[:port]",
// where host may start with "*." for any subdomain.
func parseOriginPattern(o string) (originPattern, error) {
	if o == "null" {
		return originPattern{prefix: o}, nil
	}
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || !corsIsScheme(scheme) {
		return originPattern{}, fmt.Errorf(`is not an origin: want "scheme://host[:port]", "null" or "*"`)
	}
	wildcard := strings.HasPrefix(rest, "*.")
	if wildcard {
		rest = rest[1:] // keep the dot in the suffix
	}
	host, port, hasPort := rest, "", false
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, ']') {
		host, port, hasPort = rest[:i], rest[i+1:], true
	}
	if wildcard {
		host = host[1:]
	}
	if host == "" || !corsIsHostChars(host) || hasPort && (port == "" || strings.Trim(port, "0123456789") != "") {
		return originPattern{}, fmt.Errorf(`is not an origin: want "scheme://host[:port]" with no path, or a "*." wildcard right after "://"`)
	}
	o = strings.ToLower(o)
	if wildcard {
		return originPattern{prefix: o[:len(scheme)+3], suffix: o[len(scheme)+4:], wildcard: true}, nil
	}
	return originPattern{prefix: o}, nil
}

func corsIsScheme(s string) bool {
	if s == "" || !corsIsAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !corsIsAlpha(c) && !corsIsDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// corsIsHostChars reports whether s holds only what a serialized origin's
// host can: letters, digits, '-', '.', and the brackets and colons of an
// IPv6 literal.
func corsIsHostChars(s string) bool {
	if s[0] == '[' || strings.ContainsAny(s, "[]:") {
		return len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' && strings.Trim(s[1:len(s)-1], "0123456789abcdefABCDEF:.") == ""
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !corsIsAlpha(c) && !corsIsDigit(c) && c != '-' && c != '.' && c != '[' && c != ']' {
			return false
		}
	}
	return true
}

func corsIsAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func corsIsDigit(c byte) bool { return '0' <= c && c <= '9' }

func corsIsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}

// match reports whether origin, a single Origin value, matches p.
func (p *originPattern) match(origin string) bool {
	if !p.wildcard {
		return strings.EqualFold(origin, p.prefix)
	}
	if len(origin) <= len(p.prefix)+len(p.suffix) ||
		!strings.EqualFold(origin[:len(p.prefix)], p.prefix) ||
		!strings.EqualFold(origin[len(origin)-len(p.suffix):], p.suffix) {
		return false
	}
	// The subdomain part: labels of letters, digits and '-', not
	// starting or ending with a dot, so no path, port, user info or
	// other host can hide in it.
	sub := origin[len(p.prefix) : len(origin)-len(p.suffix)]
	if sub[0] == '.' || sub[len(sub)-1] == '.' || strings.Contains(sub, "..") {
		return false
	}
	for i := 0; i < len(sub); i++ {
		if c := sub[i]; !corsIsAlpha(c) && !corsIsDigit(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// origin returns r's Origin and whether it is allowed. A request with no
// Origin, several of them, or one that is not printable ASCII of a
// sensible length is never allowed.
func (c *cors) origin(r *http.Request) (string, bool) {
	vals := r.Header["Origin"]
	if len(vals) != 1 {
		return "", false
	}
	o := vals[0]
	if o == "" || len(o) > maxOriginLen {
		return o, false
	}
	for i := 0; i < len(o); i++ {
		if o[i] <= ' ' || o[i] >= 0x7f || o[i] == ',' {
			return o, false
		}
	}
	if c.any {
		return o, true
	}
	for i := range c.origins {
		if c.origins[i].match(o) {
			return o, true
		}
	}
	return o, c.originFunc != nil && c.originFunc(o, r)
}

// actual adds the CORS fields for a request that is not a preflight.
// When any origin is allowed (never with credentials) the answer is "*"
// for every request, Origin or not, so it does not vary by Origin.
func (c *cors) actual(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	o, ok := "", c.any
	if !c.any {
		h["Vary"] = append(h["Vary"], corsVaryOrigin...)
		o, ok = c.origin(r)
	}
	if !ok {
		return
	}
	c.allowOrigin(h, o)
	if c.exposedValue != nil {
		h["Access-Control-Expose-Headers"] = c.exposedValue
	}
}

func (c *cors) allowOrigin(h http.Header, origin string) {
	if c.any {
		h["Access-Control-Allow-Origin"] = corsStar
	} else {
		h["Access-Control-Allow-Origin"] = []string{origin}
	}
	if c.credentials {
		h["Access-Control-Allow-Credentials"] = corsTrue
	}
}

// preflight answers a preflight request with 204, with the CORS fields
// only if everything it asks for is allowed.
func (c *cors) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Vary"] = append(h["Vary"], c.corsPreflightVary...)
	defer w.WriteHeader(http.StatusNoContent)

	o, ok := c.origin(r)
	if !ok {
		return
	}
	method := r.Header["Access-Control-Request-Method"]
	if len(method) != 1 || !corsIsToken(method[0]) {
		return
	}
	if !c.anyMethod && !corsContains(c.methods, method[0]) {
		return
	}
	asked, ok := c.checkHeaders(r.Header["Access-Control-Request-Headers"])
	if !ok {
		return
	}
	c.allowOrigin(h, o)
	if c.anyMethod {
		h["Access-Control-Allow-Methods"] = []string{method[0]}
	} else {
		h["Access-Control-Allow-Methods"] = c.methodsValue
	}
	switch {
	case asked == "":
	case c.anyHeader:
		h["Access-Control-Allow-Headers"] = []string{asked}
	default:
		h["Access-Control-Allow-Headers"] = c.headersValue
	}
	if c.maxAgeValue != nil {
		h["Access-Control-Max-Age"] = c.maxAgeValue
	}
	if c.pna && r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h["Access-Control-Allow-Private-Network"] = corsTrue
	}
}

// checkHeaders checks the Access-Control-Request-Headers values, a
// comma-separated list of field names, against the allowed ones. It
// returns the list as one value, for an answer that repeats it.
func (c *cors) checkHeaders(vals []string) (string, bool) {
	var list string
	switch len(vals) {
	case 0:
		return "", true
	case 1:
		list = vals[0]
	default:
		list = strings.Join(vals, ",")
	}
	n := 0
	for f := range strings.SplitSeq(list, ",") {
		f = strings.Trim(f, " \t")
		if f == "" {
			continue
		}
		if !corsIsToken(f) {
			return "", false
		}
		if !c.anyHeader && !corsContainsFold(c.headers, f) {
			return "", false
		}
		n++
	}
	if n == 0 {
		return "", true
	}
	return list, true
}

func corsContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func corsContainsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
