package router

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// node is one position in the tree of path segments. Its children are
// tried in precedence order: static segments, then a {param}, then, for a
// path that ends in a slash here, {$}, then a wildcard or subtree that
// takes the rest.
type node struct {
	label    string  // the static segment leading here
	indices  []byte  // first bytes of statics' labels, for a quick scan
	statics  []*node // static children
	param    *node   // the {param} child
	end      *leaf   // patterns that end here
	endSlash *leaf   // patterns that end here with "/{$}"
	multi    *leaf   // patterns with {name...} or a trailing slash here
}

// route is one registered pattern with its handler.
type route struct {
	pat         *pattern
	names       []string // wildcard names by position ("" for a subtree)
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
	for i, s := range segs {
		last := i == len(segs)-1
		switch s.kind {
		case segStatic:
			n = n.staticChild(s.text)
			if last {
				return leafOf(&n.end).add(rt)
			}
		case segParam:
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
			if last {
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

func (n *node) staticChild(label string) *node {
	if c := n.child(label); c != nil {
		return c
	}
	c := &node{label: label}
	n.statics = append(n.statics, c)
	n.indices = append(n.indices, label[0])
	return c
}

// child returns the static child for segment s.
func (n *node) child(s string) *node {
	if s == "" {
		return nil
	}
	c0 := s[0]
	for i, b := range n.indices {
		if b == c0 && n.statics[i].label == s {
			return n.statics[i]
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
	allowed    map[string]bool
	vals       [maxWildcards]string
}

// match returns the route for path p (the path after a '/') below n, in
// precedence order with backtracking, with the wildcard values in m.vals.
// k is the number of values taken so far. If m.allowed is set, match
// visits every route of the path instead and collects their methods.
func (m *matcher) match(n *node, p string, k int) *route {
	seg, rest, more := p, "", false
	if i := strings.IndexByte(p, '/'); i >= 0 {
		seg, rest, more = p[:i], p[i+1:], true
	}
	if len(n.statics) > 0 {
		key := seg
		if m.escaped && strings.IndexByte(seg, '%') >= 0 {
			key, _ = url.PathUnescape(seg)
		}
		if c := n.child(key); c != nil {
			if rt := m.next(c, more, rest, k); rt != nil {
				return rt
			}
		}
	}
	if n.param != nil && seg != "" {
		m.vals[k] = seg
		if rt := m.next(n.param, more, rest, k+1); rt != nil {
			return rt
		}
	}
	if p == "" && n.endSlash != nil {
		if rt := m.at(n.endSlash); rt != nil {
			return rt
		}
	}
	if n.multi != nil {
		m.vals[k] = p
		return m.at(n.multi)
	}
	return nil
}

// next continues below c: with the rest of the path, or at its end.
func (m *matcher) next(c *node, more bool, rest string, k int) *route {
	if more {
		return m.match(c, rest, k)
	}
	if c.end != nil {
		return m.at(c.end)
	}
	return nil
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
