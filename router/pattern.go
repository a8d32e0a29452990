package router

import (
	"fmt"
	"net/url"
	"strings"
)

// segKind is the kind of one segment of a pattern's path.
type segKind uint8

const (
	segStatic   segKind = iota // literal text
	segParam                   // {name}: one whole segment
	segMulti                   // {name...} or a trailing slash: the rest of the path
	segEndSlash                // {$} after a slash: the path ends right here
)

type segment struct {
	kind segKind
	text string // the literal, unescaped, for segStatic; the name for wildcards ("" for a trailing slash)
}

// pattern is a parsed ServeMux-style pattern: "[METHOD ][HOST]/[PATH]".
type pattern struct {
	str    string // as registered
	method string // "" for every method
	host   string
	path   string // the path part, as written
	segs   []segment
}

// parsePattern parses s with the syntax of net/http.ServeMux (Go 1.22).
// Errors say what is wrong in terms of the pattern as written.
func parsePattern(s string) (*pattern, error) {
	p := &pattern{str: s}
	rest := s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		p.method, rest = s[:i], strings.TrimLeft(s[i+1:], " \t")
		if !validMethod(p.method) {
			return nil, fmt.Errorf("invalid method %q", p.method)
		}
	}
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return nil, fmt.Errorf("path must begin with '/'")
	}
	p.host, p.path = rest[:slash], rest[slash:]
	if strings.ContainsAny(p.host, "{}") {
		return nil, fmt.Errorf("host %q may not contain wildcards", p.host)
	}
	names := map[string]bool{}
	raw := strings.Split(p.path[1:], "/")
	for i, seg := range raw {
		last := i == len(raw)-1
		switch {
		case seg == "" && last:
			// A trailing slash (or the pattern "/"): the whole subtree.
			p.segs = append(p.segs, segment{kind: segMulti})
		case seg == "":
			return nil, fmt.Errorf("empty segment in path %q", p.path)
		case seg == "{$}":
			if !last {
				return nil, fmt.Errorf("{$} must be the last segment")
			}
			p.segs = append(p.segs, segment{kind: segEndSlash})
		case seg[0] == '{' && seg[len(seg)-1] == '}':
			name, multi := strings.CutSuffix(seg[1:len(seg)-1], "...")
			if multi && !last {
				return nil, fmt.Errorf("wildcard {%s...} must be the last segment", name)
			}
			if !isIdentifier(name) {
				return nil, fmt.Errorf("wildcard name %q is not a Go identifier", name)
			}
			if names[name] {
				return nil, fmt.Errorf("wildcard name %q appears twice", name)
			}
			names[name] = true
			kind := segParam
			if multi {
				kind = segMulti
			}
			p.segs = append(p.segs, segment{kind: kind, text: name})
		case strings.ContainsAny(seg, "{}"):
			return nil, fmt.Errorf("segment %q: a wildcard must be a whole segment", seg)
		default:
			text, err := url.PathUnescape(seg)
			switch {
			case err != nil:
				return nil, fmt.Errorf("segment %q: %v", seg, err)
			case text == "." || text == "..":
				return nil, fmt.Errorf("segment %q can never match: request paths are cleaned first", seg)
			case strings.IndexByte(text, 0) >= 0:
				return nil, fmt.Errorf("segment %q holds a NUL byte", seg)
			}
			p.segs = append(p.segs, segment{kind: segStatic, text: text})
		}
	}
	return p, nil
}

// static reports whether p matches exactly one path.
func (p *pattern) static() bool {
	for _, s := range p.segs {
		if s.kind != segStatic {
			return false
		}
	}
	return true
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c > 0x7f || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// validMethod reports whether m is an HTTP token (RFC 9110 section 5.6.2).
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
