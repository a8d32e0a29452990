package server

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		in   string
		want verdict
	}{
		{"", undecided},
		{"P", undecided},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n", undecided},
		{http2Preface, isHTTP2},
		{http2Preface + "\x00\x00\x00\x04", isHTTP2},

		{"G", undecided},
		{"GET", undecided},
		{"GET ", undecided},
		{"GET /", undecided},
		{"GET / ", undecided},
		{"GET / HTTP/1", undecided},
		{"GET / HTTP/1.", isHTTP1},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", isHTTP1},
		{"GET / HTTP/1.0\r\n\r\n", isHTTP1},
		{"OPTIONS * HTTP/1.1\r\n", isHTTP1},
		{"CONNECT example.com:443 HTTP/1.1\r\n", isHTTP1},
		{"M-SEARCH * HTTP/1.1\r\n", isHTTP1},
		{"get /%zz?\x80\xff HTTP/1.9\r\n", isHTTP1}, // net/http's to refuse
		{"\r\nGET / HTTP/1.1\r\n", isHTTP1},         // RFC 9112 section 2.2
		{"\n\r\n", undecided},
		// PRI on HTTP/1.x is a method like any other.
		{"PRI * HTTP/1.1\r\n\r\n", isHTTP1},
		{"PRI / HTTP/1.1\r\n\r\n", isHTTP1},
		{"PRIX * HTTP/1.1\r\n\r\n", isHTTP1},
		{"POST / HTTP/1.1\r\n", isHTTP1},
		{"P" + strings.Repeat("O", 100), undecided},
		{"GET /" + strings.Repeat("a", 100), undecided},

		// What h2spec http2/3.5/2 sends.
		{"INVALID CONNECTION PREFACE\r\n\r\n", isJunk},
		{"INVALID CONNECTION P", isJunk},
		{"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", isJunk},
		{"PRI * HTTP/2.1", isJunk},
		{"PRI * HTTP/2", undecided},
		{"\x16\x03\x01\x02\x00", isJunk}, // a TLS ClientHello
		{"\x00\x00\x12\x04", isJunk},     // an HTTP/2 frame without the preface
		{" GET / HTTP/1.1", isJunk},
		{"GET  / HTTP/1.1", isJunk},
		{"GET /\r\n", isJunk}, // HTTP/0.9
		{"GET / \r\n", isJunk},
		{"GET /a\x00b HTTP/1.1", isJunk},
		{"GET / http/1.1", isJunk},
		{"GET / HTTP/2.0\r\n", isJunk},
		{"GE(T / HTTP/1.1", isJunk},
		{"G\xc3\xa9T / HTTP/1.1", isJunk},
		{"SSH-2.0-OpenSSH_9.6\r\n", isJunk},
	}
	for _, tt := range tests {
		if got := classify([]byte(tt.in)); got != tt.want {
			t.Errorf("classify(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestClassifyDecidesEveryPrefix checks that a verdict, once reached,
// holds for every longer input: the sniff may stop at the first decided
// prefix.
func TestClassifyDecidesEveryPrefix(t *testing.T) {
	for _, in := range []string{
		http2Preface + "\x00\x00",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"PRI * HTTP/1.1\r\n\r\n",
		"INVALID CONNECTION PREFACE\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
	} {
		final := classify([]byte(in))
		decided := undecided
		for i := range len(in) + 1 {
			v := classify([]byte(in[:i]))
			if decided != undecided && v != decided {
				t.Errorf("classify(%q) = %v after %v for a shorter prefix", in[:i], v, decided)
			}
			if v != undecided {
				decided = v
			}
		}
		if decided != final {
			t.Errorf("%q: prefixes decided %v, the whole %v", in, decided, final)
		}
	}
}
