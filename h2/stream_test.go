package h2

import (
	"net/url"
	"reflect"
	"testing"
)

// TestPlainPathURL checks that the URL a plain path gets without parsing
// is the one url.ParseRequestURI gives, and that every other path is
// parsed.
func TestPlainPathURL(t *testing.T) {
	for _, tc := range []struct {
		path  string
		plain bool
	}{
		{"/", true},
		{"/a/b.c-d_e~f", true},
		{"//double/slash", true},
		{"/UPPER/123", true},
		{"/with?query=1", false},
		{"/esc%2Fape", false},
		{"/frag#x", false},
		{"/sp ace", false},
		{"/semi;colon", false},
		{"*", false},
		{"relative", false},
		{"", false},
	} {
		if got := plainPath(tc.path); got != tc.plain {
			t.Errorf("plainPath(%q) = %v, want %v", tc.path, got, tc.plain)
			continue
		}
		if !tc.plain {
			continue
		}
		want, err := url.ParseRequestURI(tc.path)
		if err != nil {
			t.Fatalf("ParseRequestURI(%q): %v", tc.path, err)
		}
		if got := (url.URL{Path: tc.path}); !reflect.DeepEqual(&got, want) {
			t.Errorf("URL of %q = %#v, ParseRequestURI gives %#v", tc.path, got, *want)
		}
	}
}
