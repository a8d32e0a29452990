package websocket

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

func TestNegotiateDeflate(t *testing.T) {
	nc, ct := CompressionNoContextTakeover, CompressionContextTakeover
	const both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	cases := []struct {
		offer  []string
		mode   Compression
		want   string // "" declined
		params deflateParams
	}{
		{[]string{"permessage-deflate"}, CompressionDisabled, "", deflateParams{}},
		{[]string{"permessage-deflate"}, nc, both, deflateParams{true, true, 15}},
		{[]string{"permessage-deflate"}, ct, "permessage-deflate", deflateParams{false, false, 15}},
		{[]string{"permessage-deflate; client_no_context_takeover"}, ct, "permessage-deflate; client_no_context_takeover", deflateParams{false, true, 15}},
		{[]string{"permessage-deflate; server_no_context_takeover"}, ct, "permessage-deflate; server_no_context_takeover", deflateParams{true, false, 15}},
		{[]string{"permessage-deflate; client_max_window_bits"}, nc, both, deflateParams{true, true, 15}},
		{[]string{"permessage-deflate; client_max_window_bits=10"}, nc, both, deflateParams{true, true, 15}},
		{[]string{"permessage-deflate; server_max_window_bits=10"}, nc, both + "; server_max_window_bits=10", deflateParams{true, true, 10}},
		{[]string{`permessage-deflate; server_max_window_bits="8"`}, ct, "permessage-deflate; server_max_window_bits=8", deflateParams{false, false, 8}},
		{[]string{"permessage-deflate; server_max_window_bits"}, nc, "", deflateParams{}},
		{[]string{"permessage-deflate; server_max_window_bits=7"}, nc, "", deflateParams{}},
		{[]string{"permessage-deflate; server_max_window_bits=16"}, nc, "", deflateParams{}},
		{[]string{"permessage-deflate; server_max_window_bits=010"}, nc, "", deflateParams{}},
		{[]string{"permessage-deflate; client_max_window_bits=20"}, nc, "", deflateParams{}},
		{[]string{"permessage-deflate; server_no_context_takeover=1"}, nc, "", deflateParams{}},
		{[]string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, nc, "", deflateParams{}},
		{[]string{"permessage-deflate; foo"}, nc, "", deflateParams{}},
		{[]string{"x-webkit-deflate-frame"}, nc, "", deflateParams{}},
		{[]string{"permessage-deflate; foo, permessage-deflate; client_max_window_bits"}, nc, both, deflateParams{true, true, 15}},
		{[]string{"permessage-deflate; server_max_window_bits=9", "permessage-deflate"}, ct, "permessage-deflate; server_max_window_bits=9", deflateParams{false, false, 9}},
		{[]string{"Permessage-Deflate;Server_No_Context_Takeover"}, ct, "permessage-deflate; server_no_context_takeover", deflateParams{true, false, 15}},
	}
	for _, tc := range cases {
		p, resp, ok := negotiateDeflate(tc.offer, tc.mode)
		if ok != (tc.want != "") || resp != tc.want || (ok && p != tc.params) {
			t.Errorf("%q mode %d: %q %+v %v, want %q %+v", tc.offer, tc.mode, resp, p, ok, tc.want, tc.params)
		}
	}
}

func TestUTF8Validator(t *testing.T) {
	inputs := [][]byte{
		[]byte("hello"), []byte("κόσμε"), []byte("\U0010FFFF"), []byte("\uFFFF€𝄞"),
		{0xed, 0xa0, 0x80}, {0xf4, 0x90, 0x80, 0x80}, {0xc0, 0xaf}, {0xe0, 0x80, 0xaf},
		{0xf8, 0x88, 0x80, 0x80, 0x80}, {0x80}, {0xe2, 0x82}, {0xf0, 0x9f, 0x98}, {0xef, 0xbf, 0xbf},
		{0xed, 0x9f, 0xbf}, {0xee, 0x80, 0x80}, {0xf0, 0x90, 0x80, 0x80}, {0xf0, 0x8f, 0xbf, 0xbf},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = byte(r.IntN(256))
			if r.IntN(3) == 0 {
				b[i] = 0x80 | byte(r.IntN(64))
			}
		}
		inputs = append(inputs, b, []byte(string([]rune{rune(r.IntN(0x110000))})+"abcdefghij"))
	}
	for _, in := range inputs {
		want := utf8.Valid(in)
		for split := 0; split <= len(in); split++ {
			var s utf8State
			got := s.valid(in[:split]) && s.valid(in[split:]) && s.complete()
			if got != want {
				t.Fatalf("%x split at %d: valid %v, want %v", in, split, got, want)
			}
		}
	}
	// Fail fast: the first impossible byte is rejected without waiting
	// for more input.
	var s utf8State
	if s.valid([]byte{'a', 0xed, 0xa0}) {
		t.Fatal("surrogate prefix accepted")
	}
}

func TestMask(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for n := range 100 { // every path: bytes, words, four words at a time
		for pos := range 4 {
			b := bytes.Repeat([]byte{0xAA}, n)
			want := make([]byte, n)
			for i := range want {
				want[i] = 0xAA ^ key[(pos+i)&3]
			}
			if end := maskBytes(key, pos, b); end != (pos+n)&3 || !bytes.Equal(b, want) {
				t.Fatalf("n %d pos %d: %x, want %x", n, pos, b, want)
			}
		}
	}
}

func BenchmarkMask64K(b *testing.B) {
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		maskBytes([4]byte{1, 2, 3, 4}, 1, buf)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 40} {
		var b [maxHeaderLen]byte
		l := putHeader(b[:], true, true, opBinary, n)
		if headerLen(b[1]) != l {
			t.Fatalf("n %d: headerLen %d, put %d", n, headerLen(b[1]), l)
		}
		var h frameHeader
		if !parseHeader(b[:l], &h) || h.length != int64(n) || !h.fin || !h.rsv1 || h.op != opBinary || h.masked {
			t.Fatalf("n %d: %+v", n, h)
		}
	}
	b := []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}
	var h frameHeader
	if parseHeader(b, &h) {
		t.Fatal("64-bit length with the top bit set accepted")
	}
}

func TestParseDeflateResponse(t *testing.T) {
	nc, ct := CompressionNoContextTakeover, CompressionContextTakeover
	cases := []struct {
		answer []string
		mode   Compression
		ok     bool
		params deflateParams // own = the client
		bad    bool
	}{
		{nil, nc, false, deflateParams{}, false},
		{[]string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, nc, true, deflateParams{true, true, 15}, false},
		// The client keeps no context in this mode even if not told to.
		{[]string{"permessage-deflate"}, nc, true, deflateParams{true, false, 15}, false},
		{[]string{"permessage-deflate"}, ct, true, deflateParams{false, false, 15}, false},
		{[]string{"permessage-deflate; server_no_context_takeover"}, ct, true, deflateParams{false, true, 15}, false},
		{[]string{"permessage-deflate; client_no_context_takeover"}, ct, true, deflateParams{true, false, 15}, false},
		{[]string{"permessage-deflate; client_max_window_bits=9"}, ct, true, deflateParams{false, false, 9}, false},
		{[]string{`Permessage-Deflate; Client_Max_Window_Bits="10"`}, ct, true, deflateParams{false, false, 10}, false},
		{[]string{"permessage-deflate; client_max_window_bits"}, ct, false, deflateParams{}, true},
		{[]string{"permessage-deflate; client_max_window_bits=7"}, ct, false, deflateParams{}, true},
		{[]string{"permessage-deflate; client_max_window_bits=9; client_max_window_bits=9"}, ct, false, deflateParams{}, true},
		{[]string{"permessage-deflate; server_max_window_bits=9"}, ct, false, deflateParams{}, true},
		{[]string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, ct, false, deflateParams{}, true},
		{[]string{"permessage-deflate; client_no_context_takeover=1"}, ct, false, deflateParams{}, true},
		{[]string{"permessage-deflate", "permessage-deflate"}, ct, false, deflateParams{}, true},
		{[]string{"permessage-deflate"}, CompressionDisabled, false, deflateParams{}, true},
	}
	for _, tc := range cases {
		p, ok, err := parseDeflateResponse(tc.answer, tc.mode)
		if (err != nil) != tc.bad || ok != tc.ok || (ok && p != tc.params) {
			t.Errorf("parseDeflateResponse(%q, %d) = %+v, %v, %v; want %+v, %v, error %v", tc.answer, tc.mode, p, ok, err, tc.params, tc.ok, tc.bad)
		}
	}
}

// FuzzParseDeflateResponse checks that any answer to Dial's offer either
// fails, is declined, or gives parameters the connection can use.
func FuzzParseDeflateResponse(f *testing.F) {
	f.Add("permessage-deflate; client_max_window_bits=9; server_no_context_takeover", 2)
	f.Add(`permessage-deflate; client_max_window_bits="8", x`, 1)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, answer string, mode int) {
		m := Compression(uint(mode) % 3)
		p, ok, err := parseDeflateResponse([]string{answer}, m)
		if err != nil && ok {
			t.Fatalf("%q: ok with an error %v", answer, err)
		}
		if ok && (m == CompressionDisabled || p.ownMaxBits < 8 || p.ownMaxBits > 15 || m == CompressionNoContextTakeover && !p.ownNoContext) {
			t.Fatalf("%q in mode %d: unusable agreement %+v", answer, m, p)
		}
	})
}
