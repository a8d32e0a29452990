package router

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// node is one position in the tree of path segments. A static node's
// label is one or more whole segments joined by '/' (a run of static
// segments that no pattern splits), so a deep static path costs a few
// comparisons, not one per segment. Children are tried in precedence
// order: static segments, then a {param}, then, for a path that ends in
// a slash here, {$}, then a wildcard or subtree that takes the rest.
//
// The fields that matching reads most come first, and a node keeps its
// static children's first bytes and labels, so that trying a child that
// does not match reads nothing of the child itself.
type node struct {
	indices  []byte       // kids' first bytes, ascending; see kidIndex
	kids     []kid        // static children, in the order of indices
	from     *[256]uint16 // with many kids: from[b] is the first index whose byte is >= b
	param    *node        // the {param} child
	end      *leaf        // patterns that end here
	endSlash *leaf        // patterns that end here with "/{$}"
	multi    *leaf        // patterns with {name...} or a trailing slash here
	slashed  bool         // a segment holds an escaped '/', so only escaped paths can match
	label    string       // the static segments leading here, joined by '/'
	segs     []string     // the same, one by one (for escaped request paths)
}

// kid is a static child with its label, kept in the parent.
type kid struct {
	label string
	head  uint64 // load8 of the label's first 8 bytes, zero-padded
	mask  uint64 // the bits of head that the label fills
	n     *node
}

func newKid(c *node) kid {
	k := kid{label: c.label, n: c}
	for i := 0; i < len(c.label) && i < 8; i++ {
		k.head |= uint64(c.label[i]) << (8 * i)
		k.mask |= 0xff << (8 * i)
	}
	return k
}

// load8 returns the first 8 bytes of s, little-endian, in one load.
func load8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// kidIndex is the byte under which a node indexes its static child c: the
// label's first byte, or '/' if only escaped paths can match c. An
// unescaped segment never begins with '/' (it would be empty), so the
// scan of unescaped paths never looks at such a child.
func kidIndex(c *node) byte {
	if c.slashed {
		return '/'
	}
	return c.label[0]
}

// route is one registered pattern with its handler.
type route struct {
	pat         *pattern
	names       []string // wildcard names by position ("" for a subtree)
	rest        bool     // the last wildcard takes the rest of the path
	handler     http.Handler
	middlewares int
}

// Method indexes of leaf.routes; anyMethod holds patterns without one.
const (
	anyMethod = iota
	mGET
	mHEAD
	mPOST
	mPUT
	mPATCH
	mDELETE
	mCONNECT
	mOPTIONS
	mTRACE
	nMethods
)

var methodNames = [nMethods]string{"", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"}

func methodIndex(m string) int {
	switch m {
	case "":
		return anyMethod
	case "GET":
		return mGET
	case "HEAD":
		return mHEAD
	case "POST":
		return mPOST
	case "PUT":
		return mPUT
	case "PATCH":
		return mPATCH
	case "DELETE":
		return mDELETE
	case "CONNECT":
		return mCONNECT
	case "OPTIONS":
		return mOPTIONS
	case "TRACE":
		return mTRACE
	}
	return -1
}

// leaf holds the routes of one path shape, by method.
type leaf struct {
	routes [nMethods]*route
	other  map[string]*route // methods outside the common set
}

// add registers rt for its method, or returns the route already there.
func (l *leaf) add(rt *route) *route {
	m := rt.pat.method
	if i := methodIndex(m); i >= 0 {
		if old := l.routes[i]; old != nil {
			return old
		}
		l.routes[i] = rt
		return nil
	}
	if old := l.other[m]; old != nil {
		return old
	}
	if l.other == nil {
		l.other = make(map[string]*route)
	}
	l.other[m] = rt
	return nil
}

// pick returns the route of l that serves the request m describes: its own
// method, then GET for HEAD and for extended CONNECT, then any method.
func (l *leaf) pick(m *matcher) *route {
	switch {
	case m.mi > anyMethod:
		if rt := l.routes[m.mi]; rt != nil {
			return rt
		}
	case m.mi < 0:
		if rt := l.other[m.method]; rt != nil {
			return rt
		}
	}
	if m.mi == mHEAD || m.extConnect {
		if rt := l.routes[mGET]; rt != nil {
			return rt
		}
	}
	return l.routes[anyMethod]
}

// methods adds the methods l serves to set.
func (l *leaf) methods(set map[string]bool) {
	for i, rt := range l.routes {
		if rt != nil && i != anyMethod {
			set[methodNames[i]] = true
		}
	}
	for m := range l.other {
		set[m] = true
	}
}

// insert adds rt along its pattern's segments and returns the route it
// conflicts with, if any.
func (n *node) insert(rt *route) *route {
	segs := rt.pat.segs
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		switch s.kind {
		case segStatic:
			j := i
			var run []string
			for ; j < len(segs) && segs[j].kind == segStatic; j++ {
				run = append(run, segs[j].text)
			}
			n = n.insertRun(run)
			i = j - 1
			if j == len(segs) {
				return leafOf(&n.end).add(rt)
			}
		case segParam:
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
			if i == len(segs)-1 {
				return leafOf(&n.end).add(rt)
			}
		case segEndSlash:
			return leafOf(&n.endSlash).add(rt)
		case segMulti:
			return leafOf(&n.multi).add(rt)
		}
	}
	panic("unreachable: a pattern has at least one segment")
}

func leafOf(l **leaf) *leaf {
	if *l == nil {
		*l = &leaf{}
	}
	return *l
}

// insertRun returns the node reached from n by the static segments of run,
// creating it, and splitting a label that run leaves part-way, as needed.
func (n *node) insertRun(run []string) *node {
	for len(run) > 0 {
		ci := slices.IndexFunc(n.kids, func(k kid) bool { return k.n.segs[0] == run[0] })
		if ci < 0 {
			c := newStatic(run)
			n.addKid(c)
			return c
		}
		c := n.kids[ci].n
		common := 1
		for common < len(c.segs) && common < len(run) && c.segs[common] == run[common] {
			common++
		}
		if common < len(c.segs) {
			tail := newStatic(c.segs[common:])
			tail.indices, tail.kids, tail.from, tail.param = c.indices, c.kids, c.from, c.param
			tail.end, tail.endSlash, tail.multi = c.end, c.endSlash, c.multi
			*c = *newStatic(c.segs[:common])
			c.addKid(tail)
			// c's label, and maybe its index byte, changed.
			n.removeKid(ci)
			n.addKid(c)
		}
		n, run = c, run[common:]
	}
	return n
}

// addKid adds the static child c, keeping indices ascending.
func (n *node) addKid(c *node) {
	b := kidIndex(c)
	at, _ := slices.BinarySearch(n.indices, b+1) // after its equals
	n.indices = slices.Insert(n.indices, at, b)
	n.kids = slices.Insert(n.kids, at, newKid(c))
	n.index()
}

// removeKid removes the static child at index i.
func (n *node) removeKid(i int) {
	n.indices = slices.Delete(n.indices, i, i+1)
	n.kids = slices.Delete(n.kids, i, i+1)
	n.index()
}

// manyKids is the number of static children from which a node keeps a
// table of where each first byte begins, instead of scanning from the
// start.
const manyKids = 8

// index rebuilds n.from after n.indices changed.
func (n *node) index() {
	if len(n.indices) < manyKids {
		n.from = nil
		return
	}
	if n.from == nil {
		n.from = new([256]uint16)
	}
	i := 0
	for b := range 256 {
		for i < len(n.indices) && int(n.indices[i]) < b {
			i++
		}
		n.from[b] = uint16(i)
	}
}

func newStatic(segs []string) *node {
	segs = slices.Clone(segs)
	n := &node{label: strings.Join(segs, "/"), segs: segs}
	for _, s := range segs {
		n.slashed = n.slashed || strings.IndexByte(s, '/') >= 0
	}
	return n
}

// child returns the static child whose label is exactly s (used to find
// the leaf of a fully static pattern).
func (n *node) child(s string) *node {
	for _, k := range n.kids {
		if k.label == s {
			return k.n
		}
	}
	return nil
}

// matcher walks the tree for one request.
type matcher struct {
	method     string
	mi         int  // methodIndex(method)
	extConnect bool // an RFC 8441 CONNECT, routed like GET
	escaped    bool // the path is the escaped form: unescape before comparing
	clean      bool // a {name...} never takes an empty, "." or ".." segment
	// slashes asks match to note where the path ends at a node whose
	// patterns would take it with a slash appended: in slash, when such a
	// pattern takes the request, or in allowed, their methods.
	slashes, slash bool
	allowed        map[string]bool
	// req gets the wildcard values of the route found, as match returns
	// it; nil when only looking.
	req *http.Request
}

// match returns the route for path p (the path after a '/') below n, in
// precedence order with backtracking, and sets its wildcard values on
// m.req on the way back (so that nothing is kept per wildcard while
// matching). k is the number of wildcards above n. If m.allowed is set,
// match visits every route of the path instead and collects their
// methods.
//
// A wildcard never takes a value with a NUL byte, so a path with one
// matches no route, and dispatch answers it with 400.
//
// Below a static child that leaves nothing here to fall back on, match
// goes on in its loop instead of calling itself.
func (m *matcher) match(n *node, p string, k int) *route {
	for {
		if len(n.indices) > 0 && p != "" {
			// The children's first segments differ, so at most one of them
			// matches. An empty segment (p[0] == '/') matches none.
			var c *node
			var rest string
			var end bool
			if !m.escaped {
				c0 := p[0]
				i := 0
				if n.from != nil {
					i = int(n.from[c0])
				}
				for ; i < len(n.indices) && c0 != '/'; i++ {
					if b := n.indices[i]; b != c0 {
						if b > c0 {
							break
						}
						continue
					}
					kd := &n.kids[i]
					l := kd.label
					if len(p) < len(l) {
						continue
					}
					if len(p) >= 8 {
						// The first eight bytes as one word.
						if load8(p)&kd.mask != kd.head || len(l) > 8 && p[8:len(l)] != l[8:] {
							continue
						}
					} else if p[:len(l)] != l {
						continue
					}
					if len(p) > len(l) && p[len(l)] != '/' {
						continue
					}
					c, end = kd.n, len(p) == len(l)
					if !end {
						rest = p[len(l)+1:]
					}
					break
				}
			} else {
				for _, k := range n.kids {
					if r, e, ok := m.prefix(k.n, p); ok {
						c, rest, end = k.n, r, e
						break
					}
				}
			}
			if c != nil {
				if !end {
					if n.param == nil && n.multi == nil {
						n, p = c, rest
						continue
					}
					if rt := m.match(c, rest, k); rt != nil {
						return rt
					}
				} else {
					if c.end != nil {
						if rt := m.at(c.end); rt != nil {
							return rt
						}
					}
					if m.slashes && (c.endSlash != nil || c.multi != nil) {
						m.withSlash(c)
					}
				}
			}
		}
		if n.param != nil && p != "" {
			// A byte loop finds the end of a short segment faster than
			// strings.IndexByte, and sees a NUL on the way.
			i := 0
			for i < len(p) && !segmentStop[p[i]] {
				i++
			}
			seg := p[:i]
			dot := seg != "" && seg[0] == '.' && (len(seg) == 1 || len(seg) == 2 && seg[1] == '.')
			if (i == len(p) || p[i] == '/') && i > 0 && !dot && !(m.escaped && m.escapedDotSegment(seg)) {
				var rt *route
				if i < len(p) {
					rt = m.match(n.param, p[i+1:], k+1)
				} else {
					if n.param.end != nil {
						rt = m.at(n.param.end)
					}
					if rt == nil && m.slashes && (n.param.endSlash != nil || n.param.multi != nil) {
						m.withSlash(n.param)
					}
				}
				if rt != nil {
					if name := rt.names[k]; m.req != nil && !m.escaped && name != "" {
						m.req.SetPathValue(name, seg) // inlined: no call to set per value
					} else {
						m.set(rt, k, seg)
					}
					return rt
				}
			}
		}
		if p == "" && n.endSlash != nil {
			if rt := m.at(n.endSlash); rt != nil {
				return rt
			}
		}
		if n.multi != nil && strings.IndexByte(p, 0) < 0 && !(m.clean && uncleanRest(p, m.escaped)) {
			rt := m.at(n.multi)
			if rt != nil {
				m.set(rt, k, p)
			}
			return rt
		}
		return nil
	}
}

// withSlash notes what the path with a slash appended would find at c,
// the node where the path ends: the routes of c that end in "/{$}" or
// take the rest of the path, which would take the empty rest there. That
// is an exact match in ServeMux's sense, so the path is redirected to it
// when the path itself matches nothing, or only a subtree above, which
// match tries after c. With m.allowed set, their methods are collected
// instead, for the Allow header of the 405 such a path gets.
func (m *matcher) withSlash(c *node) {
	for _, l := range [...]*leaf{c.endSlash, c.multi} {
		switch {
		case l == nil:
		case m.allowed != nil:
			l.methods(m.allowed)
		case l.pick(m) != nil:
			m.slash = true
		}
	}
}

// set sets the value of rt's wildcard k on m.req, decoded.
func (m *matcher) set(rt *route, k int, v string) {
	if m.req == nil || rt.names[k] == "" {
		return
	}
	if m.escaped {
		v, _ = url.PathUnescape(v)
	}
	m.req.SetPathValue(rt.names[k], v)
}

// segmentStop marks the bytes that end a wildcard's segment: '/', and NUL,
// which no wildcard takes.
var segmentStop = [256]bool{'/': true, 0: true}

// escapedDotSegment reports whether seg, a segment of an escaped path, is
// "." or ".." once decoded: a wildcard never takes one, so that a path
// that needs cleaning matches nothing and is redirected to its clean form.
func (m *matcher) escapedDotSegment(seg string) bool {
	if strings.IndexByte(seg, '%') >= 0 {
		seg, _ = url.PathUnescape(seg)
	}
	return seg == "." || seg == ".."
}

// prefix reports whether p, an escaped path, begins with c's label at a
// segment boundary, comparing segment by segment, decoded, and returns
// what follows the slash after it, or end if nothing does. (match
// compares unescaped paths itself.)
func (m *matcher) prefix(c *node, p string) (rest string, end, ok bool) {
	for i, want := range c.segs {
		seg, r, more := p, "", false
		if j := strings.IndexByte(p, '/'); j >= 0 {
			seg, r, more = p[:j], p[j+1:], true
		}
		if strings.IndexByte(seg, '%') >= 0 {
			seg, _ = url.PathUnescape(seg)
		}
		switch {
		case seg != want:
			return "", false, false
		case i == len(c.segs)-1:
			return r, !more, true
		case !more:
			return "", false, false
		}
		p = r
	}
	return "", false, false
}

// at picks the route of l for the request, or records l's methods.
func (m *matcher) at(l *leaf) *route {
	if m.allowed != nil {
		l.methods(m.allowed)
		return nil
	}
	return l.pick(m)
}

// allowHeader returns the value of an Allow header for the methods in set:
// sorted, with HEAD wherever GET is, and OPTIONS, which the router answers.
func allowHeader(set map[string]bool) string {
	if set["GET"] {
		set["HEAD"] = true
	}
	set["OPTIONS"] = true
	ms := make([]string, 0, len(set))
	for m := range set {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	return strings.Join(ms, ", ")
}
