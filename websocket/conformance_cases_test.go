package websocket_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/molt-http/molt/websocket"
)

// cfCases returns the conformance cases, group by group.
func cfCases() []cfCase {
	var cs []cfCase
	for _, g := range []func() []cfCase{
		cfFraming, cfPingPong, cfReserved, cfOpcodes, cfFragmentation,
		cfUTF8, cfCloseCases, cfLarge, cfAutoFragmentation, cfDeflate, cfDeflateOffers, cfExtra,
	} {
		cs = append(cs, g()...)
	}
	return cs
}

// echoCase sends op messages (compressed if comp) and expects their echo.
func echoCase(op byte, payloads ...[]byte) func(c *cfConn) {
	return func(c *cfConn) {
		for _, p := range payloads {
			c.message(op, p)
		}
		for _, p := range payloads {
			c.expectMessage(op, p)
		}
	}
}

// failCase sends frames and expects the server to close with code.
func failCase(code int, send func(c *cfConn)) func(c *cfConn) {
	return func(c *cfConn) {
		send(c)
		c.expectClose(code)
	}
}

var cfSizes = []int{0, 125, 126, 127, 128, 65535, 65536}

// Group 1: framing. 1.1 text and 1.2 binary in one write; 1.1.8 and 1.2.8
// in writes of 997 bytes; 1.3 text and 1.4 binary in writes of one byte.
func cfFraming() []cfCase {
	var cs []cfCase
	for g, op := range []byte{cfText, cfBinary} {
		for i, n := range cfSizes {
			p := bytes.Repeat([]byte{'*'}, n)
			if op == cfBinary {
				p = bytes.Repeat([]byte{0xfe}, n)
			}
			cs = append(cs,
				cfCase{id: fmt.Sprintf("1.%d.%d", g+1, i+1), run: echoCase(op, p)},
				cfCase{id: fmt.Sprintf("1.%d.%d", g+3, i+1), chop: 1, run: echoCase(op, p)})
		}
		p := bytes.Repeat([]byte{'*'}, 65536)
		cs = append(cs, cfCase{id: fmt.Sprintf("1.%d.8", g+1), chop: 997, run: echoCase(op, p)})
	}
	return cs
}

// Group 2: ping and pong.
func cfPingPong() []cfCase {
	ping := func(payload []byte) func(c *cfConn) {
		return func(c *cfConn) {
			c.send(true, 0, cfPing, payload)
			c.expectPong(payload)
		}
	}
	unsolicited := func(pong []byte) func(c *cfConn) {
		return func(c *cfConn) {
			c.send(true, 0, cfPong, pong)
			c.message(cfText, []byte("after the pong"))
			c.expectMessage(cfText, []byte("after the pong")) // and nothing before it
		}
	}
	tenPings := func(c *cfConn) {
		for i := range 10 {
			c.send(true, 0, cfPing, fmt.Appendf(nil, "payload-%d", i))
		}
		for i := range 10 {
			c.expectPong(fmt.Appendf(nil, "payload-%d", i))
		}
	}
	allSizes := func(c *cfConn) {
		for n := range 126 {
			c.send(true, 0, cfPing, cfPattern(n, uint32(n)))
		}
		for n := range 126 {
			c.expectPong(cfPattern(n, uint32(n)))
		}
	}
	return []cfCase{
		{id: "2.1", run: ping(nil)},
		{id: "2.2", run: ping([]byte("Hello, world!"))},
		{id: "2.3", run: ping([]byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff})},
		{id: "2.4", run: ping(bytes.Repeat([]byte{0xfe}, 125))},
		{id: "2.5", run: failCase(1002, func(c *cfConn) { c.send(true, 0, cfPing, bytes.Repeat([]byte{0xfe}, 126)) })},
		{id: "2.6", chop: 1, run: ping(bytes.Repeat([]byte{0xfe}, 125))},
		{id: "2.7", run: unsolicited(nil)},
		{id: "2.8", run: unsolicited([]byte("unsolicited pong payload"))},
		{id: "2.9", run: func(c *cfConn) {
			c.send(true, 0, cfPong, []byte("unsolicited pong payload"))
			c.send(true, 0, cfPing, []byte("ping payload"))
			c.expectPong([]byte("ping payload"))
		}},
		{id: "2.10", run: tenPings},
		{id: "2.11", chop: 1, run: tenPings},
		{id: "2.12", run: allSizes}, // every payload length from 0 to 125
	}
}

// Group 3: reserved bits. Without an extension that defines them, any of
// RSV1-3 fails the connection with 1002 — on any frame type, and whatever
// came before.
func cfReserved() []cfCase {
	small := []byte("Hello, world!")
	fail := func(pre bool, rsv, op byte, payload []byte) func(c *cfConn) {
		return func(c *cfConn) {
			if pre {
				c.message(cfText, small)
				c.expectMessage(cfText, small)
			}
			c.send(true, rsv, op, payload)
			c.expectClose(1002)
		}
	}
	none := ""
	deflate := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	return []cfCase{
		{id: "3.1", run: fail(false, 1, cfText, small)},
		{id: "3.2", run: fail(true, 2, cfText, small)},
		{id: "3.3", run: fail(true, 3, cfText, small)},
		{id: "3.4", chop: 1, run: fail(true, 4, cfText, small)},
		{id: "3.5", run: fail(false, 5, cfBinary, []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff})},
		{id: "3.6", run: fail(false, 6, cfPing, small)},
		{id: "3.7", run: fail(false, 7, cfClose, nil)},
		// RSV1 with no permessage-deflate offered.
		{id: "3.8.1", accept: &none, run: fail(false, 4, cfText, small)},
		// With permessage-deflate: RSV1 only on a data message's first
		// frame; RSV2 and RSV3 never.
		{id: "3.8.2", offer: "permessage-deflate", accept: &deflate, run: fail(false, 2, cfText, small)},
		{id: "3.8.3", offer: "permessage-deflate", accept: &deflate, run: fail(false, 4, cfPing, small)},
		{id: "3.8.4", offer: "permessage-deflate", accept: &deflate, run: func(c *cfConn) {
			c.send(false, 0, cfText, small)
			c.send(true, 4, cfCont, small)
			c.expectClose(1002)
		}},
		{id: "3.8.5", offer: "permessage-deflate", accept: &deflate, run: fail(false, 4, cfClose, nil)},
	}
}

// Group 4: reserved opcodes 3-7 (data) and 11-15 (control) fail with 1002.
func cfOpcodes() []cfCase {
	var cs []cfCase
	for g, ops := range [][]byte{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}} {
		for i, op := range ops {
			tc := cfCase{id: fmt.Sprintf("4.%d.%d", g+1, i+1)}
			var payload []byte
			if i%2 == 1 {
				payload = []byte("reserved opcode payload")
			}
			pre := i >= 2 // cases 3-5: after a message that is echoed
			if i == 4 {
				tc.chop = 1
			}
			tc.run = func(c *cfConn) {
				if pre {
					c.message(cfText, []byte("Hello, world!"))
					c.expectMessage(cfText, []byte("Hello, world!"))
				}
				c.send(true, 0, op, payload)
				c.expectClose(1002)
			}
			cs = append(cs, tc)
		}
	}
	return cs
}

// Group 5: fragmentation.
func cfFragmentation() []cfCase {
	frag := func(op byte, pings bool) func(c *cfConn) {
		return func(c *cfConn) {
			c.send(false, 0, op, []byte("fragment1"))
			if pings {
				c.send(true, 0, cfPing, []byte("ping between"))
			}
			c.send(false, 0, cfCont, []byte("fragment2"))
			c.send(true, 0, cfCont, []byte("fragment3"))
			if pings {
				c.expectPong([]byte("ping between"))
			}
			c.expectMessage(op, []byte("fragment1fragment2fragment3"))
		}
	}
	fiveFrames := func(c *cfConn) {
		c.send(false, 0, cfText, []byte("fragment1"))
		c.send(true, 0, cfPing, []byte("pongme 1!"))
		c.send(false, 0, cfCont, []byte("fragment2"))
		c.send(false, 0, cfCont, []byte("fragment3"))
		c.send(false, 0, cfCont, []byte("fragment4"))
		c.send(true, 0, cfPing, []byte("pongme 2!"))
		c.send(true, 0, cfCont, []byte("fragment5"))
		c.expectPong([]byte("pongme 1!"))
		c.expectPong([]byte("pongme 2!"))
		c.expectMessage(cfText, []byte("fragment1fragment2fragment3fragment4fragment5"))
	}
	fail := func(send func(c *cfConn)) func(c *cfConn) { return failCase(1002, send) }
	return []cfCase{
		{id: "5.1", run: fail(func(c *cfConn) {
			c.send(false, 0, cfPing, []byte("fragment1"))
			c.send(true, 0, cfCont, []byte("fragment2"))
		})},
		{id: "5.2", run: fail(func(c *cfConn) {
			c.send(false, 0, cfPong, []byte("fragment1"))
			c.send(true, 0, cfCont, []byte("fragment2"))
		})},
		{id: "5.3", run: frag(cfText, false)},
		{id: "5.4", chop: 1, run: frag(cfText, false)},
		{id: "5.5", run: frag(cfBinary, false)},
		{id: "5.6", run: frag(cfText, true)},
		{id: "5.7", chop: 1, run: frag(cfText, true)},
		{id: "5.8", run: frag(cfBinary, true)},
		// A continuation frame with nothing to continue, FIN set.
		{id: "5.9", run: fail(func(c *cfConn) {
			c.send(true, 0, cfCont, []byte("non-continuation payload"))
			c.message(cfText, []byte("Hello, world!"))
		})},
		{id: "5.10", chop: 1, run: fail(func(c *cfConn) {
			c.send(true, 0, cfCont, []byte("non-continuation payload"))
			c.message(cfText, []byte("Hello, world!"))
		})},
		// The same, FIN clear.
		{id: "5.12", run: fail(func(c *cfConn) {
			c.send(false, 0, cfCont, []byte("non-continuation payload"))
			c.message(cfText, []byte("Hello, world!"))
		})},
		{id: "5.13", chop: 1, run: fail(func(c *cfConn) {
			c.send(false, 0, cfCont, []byte("non-continuation payload"))
			c.message(cfText, []byte("Hello, world!"))
		})},
		// A whole fragmented message, then a continuation that continues
		// nothing.
		{id: "5.15", run: func(c *cfConn) {
			c.send(false, 0, cfText, []byte("fragment1"))
			c.send(true, 0, cfCont, []byte("fragment2"))
			c.send(false, 0, cfCont, []byte("fragment3"))
			c.expectMessage(cfText, []byte("fragment1fragment2"))
			c.expectClose(1002)
		}},
		{id: "5.16", run: fail(func(c *cfConn) {
			c.send(false, 0, cfCont, []byte("fragment1"))
			c.send(false, 0, cfText, []byte("fragment2"))
			c.send(true, 0, cfCont, []byte("fragment3"))
		})},
		// A new data message inside a fragmented one.
		{id: "5.18", run: fail(func(c *cfConn) {
			c.send(false, 0, cfText, []byte("fragment1"))
			c.send(true, 0, cfText, []byte("fragment2"))
		})},
		{id: "5.18.2", run: fail(func(c *cfConn) {
			c.send(false, 0, cfText, []byte("fragment1"))
			c.send(false, 0, cfBinary, []byte("fragment2"))
		})},
		{id: "5.19", run: fiveFrames},
		{id: "5.20", chop: 1, run: fiveFrames},
		// Empty fragments make an empty message.
		{id: "5.21", run: func(c *cfConn) {
			c.send(false, 0, cfText, nil)
			c.send(false, 0, cfCont, nil)
			c.send(true, 0, cfCont, nil)
			c.expectMessage(cfText, []byte{})
		}},
		// Two messages fragmented one after the other, and a binary one
		// with a close between fragments: the close ends it all.
		{id: "5.22", run: func(c *cfConn) {
			c.fragments(cfText, []byte("first message"), 3)
			c.fragments(cfBinary, []byte("second message"), 5)
			c.expectMessage(cfText, []byte("first message"))
			c.expectMessage(cfBinary, []byte("second message"))
		}},
	}
}

// cfValidUTF8 are valid UTF-8 texts: boundaries of each sequence length,
// around the surrogates, noncharacters.
var cfValidUTF8 = []string{
	"", "κόσμε", "Hello-µ@ßöäüàá-UTF-8!!",
	"\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80", // first of each length
	"\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", // last of each length
	"\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", // U+D7FF, U+E000, U+FFFD
	"\xef\xbf\xbe", "\xef\xb7\x90", "\xf0\x9f\xbf\xbf", // noncharacters U+FFFE, U+FDD0, U+1FFFF
	"𝄞 and 日本語 and ü",
}

// cfInvalidUTF8 are invalid UTF-8 texts.
var cfInvalidUTF8 = []string{
	"κόσμε\xed\xa0\x80edited",                  // a surrogate inside
	"\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", // lone continuation bytes
	"\xc0 ", "\xe0 ", "\xf0 ", "\xf8 ", "\xfc ", // start bytes followed by a space
	"\xc2", "\xe0\xa0", "\xf0\x90\x80", "κόσμε\xce", // last byte missing
	"\xfe", "\xff", "\xfe\xfe\xff\xff", // impossible bytes
	"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", // overlong '/'
	"\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", // largest overlongs
	"\xc0\x80", "\xe0\x80\x80", // overlong NUL
	"\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xa0\x80\xed\xb0\x80", // surrogates, single and paired
	"\xf4\x90\x80\x80", "\xf7\xbf\xbf\xbf", // above U+10FFFF
	"\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", // five and six bytes
}

// Group 6: UTF-8 in text messages. Each text is sent whole in one frame,
// then as a fragmented message of one byte per frame, which splits every
// multi-byte character across frames.
func cfUTF8() []cfCase {
	var cs []cfCase
	for i, s := range cfValidUTF8 {
		p := []byte(s)
		cs = append(cs,
			cfCase{id: fmt.Sprintf("6.2.%d", i+1), run: echoCase(cfText, p)},
			cfCase{id: fmt.Sprintf("6.3.%d", i+1), run: func(c *cfConn) {
				c.fragments(cfText, p, 1)
				c.expectMessage(cfText, p)
			}})
	}
	for i, s := range cfInvalidUTF8 {
		p := []byte(s)
		cs = append(cs,
			cfCase{id: fmt.Sprintf("6.5.%d", i+1), run: failCase(1007, func(c *cfConn) { c.message(cfText, p) })},
			cfCase{id: fmt.Sprintf("6.6.%d", i+1), run: failCase(1007, func(c *cfConn) { c.fragments(cfText, p, 1) })})
	}
	// Binary messages are not checked.
	cs = append(cs, cfCase{id: "6.1.1", run: echoCase(cfBinary, []byte("\xed\xa0\x80\xff\xfe"))})
	// Fail fast: the message never ends, yet the server closes with 1007
	// as soon as a fragment makes it invalid.
	cs = append(cs,
		cfCase{id: "6.4.1", run: failCase(1007, func(c *cfConn) {
			c.send(false, 0, cfText, []byte("κόσμε"))
			c.send(false, 0, cfCont, []byte("\xf4\x90\x80\x80"))
		})},
		cfCase{id: "6.4.2", run: failCase(1007, func(c *cfConn) {
			c.send(false, 0, cfText, []byte("κόσμε\xf4"))
			c.send(false, 0, cfCont, []byte("\x90"))
		})},
		cfCase{id: "6.4.3", run: failCase(1007, func(c *cfConn) {
			c.send(false, 0, cfText, []byte("ok \xed"))
			c.send(false, 0, cfCont, []byte("\xa0")) // a surrogate, known at its second byte
		})},
		cfCase{id: "6.4.4", run: failCase(1007, func(c *cfConn) {
			c.send(false, 0, cfText, []byte("\xc0")) // never valid
		})},
		// A character cut by a fragment boundary is fine if the next
		// fragment completes it.
		cfCase{id: "6.4.5", run: func(c *cfConn) {
			c.send(false, 0, cfText, []byte("κόσμε\xf4"))
			c.send(true, 0, cfCont, []byte("\x8f\xbf\xbf"))
			c.expectMessage(cfText, []byte("κόσμε\xf4\x8f\xbf\xbf"))
		}},
		// A control frame between the halves of a character.
		cfCase{id: "6.4.6", run: func(c *cfConn) {
			c.send(false, 0, cfText, []byte("\xe6\x97"))
			c.send(true, 0, cfPing, []byte("mid-character"))
			c.send(true, 0, cfCont, []byte("\xa5"))
			c.expectPong([]byte("mid-character"))
			c.expectMessage(cfText, []byte("日"))
		}},
	)
	return cs
}

// Group 7: the closing handshake.
func cfCloseCases() []cfCase {
	// 1012-1014 were registered with IANA after RFC 6455 (service
	// restart, try again later, bad gateway); Autobahn's current 7.7
	// cases accept them.
	valid := []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
	invalid := []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
	cs := []cfCase{
		// A message, then close: the echo, then the close.
		{id: "7.1.1", run: func(c *cfConn) {
			c.message(cfText, []byte("Hello World!"))
			c.send(true, 0, cfClose, cfCloseBody(1000, ""))
			c.expectMessage(cfText, []byte("Hello World!"))
			c.expectClose(1000)
		}},
		// Anything after the client's close is ignored: a second close, a
		// ping, a message, the rest of a fragmented message.
		{id: "7.1.2", run: func(c *cfConn) {
			c.send(true, 0, cfClose, cfCloseBody(1000, ""))
			c.send(true, 0, cfClose, cfCloseBody(1000, ""))
			c.expectClose(1000)
		}},
		{id: "7.1.3", run: func(c *cfConn) {
			c.send(true, 0, cfClose, cfCloseBody(1000, ""))
			c.send(true, 0, cfPing, []byte("Hello World!"))
			c.expectClose(1000)
		}},
		{id: "7.1.4", run: func(c *cfConn) {
			c.send(true, 0, cfClose, cfCloseBody(1000, ""))
			c.message(cfText, []byte("Hello World!"))
			c.expectClose(1000)
		}},
		{id: "7.1.5", run: func(c *cfConn) {
			c.send(false, 0, cfText, []byte("fragment1"))
			c.send(true, 0, cfClose, cfCloseBody(1000, ""))
			c.send(true, 0, cfCont, []byte("fragment2"))
			c.expectClose(1000)
		}},
		// A large message, then close.
		{id: "7.1.6", run: func(c *cfConn) {
			big := cfTextOf(256 << 10)
			c.message(cfText, big)
			c.send(true, 0, cfClose, cfCloseBody(1000, ""))
			c.expectMessage(cfText, big)
			c.expectClose(1000)
		}},
		// Close payloads: empty is answered empty; one byte is a protocol
		// error; a code with reasons up to 123 bytes is answered with the
		// code; 124 bytes make the frame too long.
		{id: "7.3.1", run: func(c *cfConn) { c.send(true, 0, cfClose, nil); c.expectClose(cfNoCode) }},
		{id: "7.3.2", run: failCase(1002, func(c *cfConn) { c.send(true, 0, cfClose, []byte{0x03}) })},
		{id: "7.3.3", run: func(c *cfConn) { c.send(true, 0, cfClose, cfCloseBody(1000, "")); c.expectClose(1000) }},
		{id: "7.3.4", run: func(c *cfConn) { c.send(true, 0, cfClose, cfCloseBody(1000, "Hello World!")); c.expectClose(1000) }},
		{id: "7.3.5", run: func(c *cfConn) {
			c.send(true, 0, cfClose, cfCloseBody(1000, strings.Repeat("*", 123)))
			c.expectClose(1000)
		}},
		{id: "7.3.6", run: failCase(1002, func(c *cfConn) { c.send(true, 0, cfClose, cfCloseBody(1000, strings.Repeat("*", 124))) })},
		// A reason in valid multi-byte UTF-8, and in invalid UTF-8.
		{id: "7.5.1", run: failCase(1007, func(c *cfConn) { c.send(true, 0, cfClose, cfCloseBody(1000, "κόσμε\xed\xa0\x80edited")) })},
		{id: "7.5.2", run: func(c *cfConn) { c.send(true, 0, cfClose, cfCloseBody(1000, "κόσμε 𝄞")); c.expectClose(1000) }},
		{id: "7.5.3", run: failCase(1007, func(c *cfConn) { c.send(true, 0, cfClose, cfCloseBody(1000, "cut \xe6\x97")) })},
	}
	for i, code := range valid {
		cs = append(cs, cfCase{id: fmt.Sprintf("7.7.%d", i+1), run: func(c *cfConn) {
			c.send(true, 0, cfClose, cfCloseBody(code, ""))
			c.expectClose(code) // echoed
		}})
	}
	for i, code := range invalid {
		cs = append(cs, cfCase{id: fmt.Sprintf("7.9.%d", i+1), run: failCase(1002, func(c *cfConn) {
			c.send(true, 0, cfClose, cfCloseBody(code, ""))
		})})
	}
	return cs
}

// Group 9: large messages. 9.1 text and 9.2 binary in one frame, 64 KiB to
// 16 MiB; 9.3 text and 9.4 binary of 4 MiB in fragments of 64 B to 4 MiB;
// 9.5 text and 9.6 binary of 1 MiB in one frame written in chops of 64 B
// to 4 KiB.
func cfLarge() []cfCase {
	var cs []cfCase
	payload := func(op byte, n int) []byte {
		if op == cfText {
			return cfTextOf(n)
		}
		return cfPattern(n, uint32(n))
	}
	for g, op := range []byte{cfText, cfBinary} {
		for i, n := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20} {
			cs = append(cs, cfCase{id: fmt.Sprintf("9.%d.%d", g+1, i+1), run: func(c *cfConn) {
				p := payload(op, n)
				c.message(op, p)
				c.expectMessage(op, p)
			}})
		}
		for i, size := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20} {
			cs = append(cs, cfCase{id: fmt.Sprintf("9.%d.%d", g+3, i+1), run: func(c *cfConn) {
				p := payload(op, 4<<20)
				c.fragments(op, p, size)
				c.expectMessage(op, p)
			}})
		}
		for i, chop := range []int{64, 128, 256, 512, 1 << 10, 2 << 10, 4 << 10} {
			cs = append(cs, cfCase{id: fmt.Sprintf("9.%d.%d", g+5, i+1), chop: chop, run: func(c *cfConn) {
				p := payload(op, 1<<20)
				c.message(op, p)
				c.expectMessage(op, p)
			}})
		}
	}
	return cs
}

// Group 10: auto-fragmentation. The /frag endpoint echoes through Writer
// in Writes of n bytes, which it coalesces: every frame but the last
// carries at least WriterFrameSize bytes, the last fewer. The client
// checks the frames and the message they make.
func cfAutoFragmentation() []cfCase {
	var cs []cfCase
	for i, tc := range []struct {
		op      byte
		size, n int
	}{
		{cfText, 65536, 1000},
		{cfBinary, 65536, 1000},
		{cfText, 10, 1},
		{cfBinary, 1 << 20, 16 << 10},
		{cfText, 300, 300},
		{cfBinary, 1, 64},
	} {
		cs = append(cs, cfCase{id: fmt.Sprintf("10.1.%d", i+1), path: fmt.Sprintf("/frag?n=%d", tc.n), run: func(c *cfConn) {
			p := cfTextOf(tc.size)
			if tc.op == cfBinary {
				p = cfPattern(tc.size, 10)
			}
			c.message(tc.op, p)
			op, got, frames := c.readMessage()
			if op != tc.op || !bytes.Equal(got, p) {
				c.t.Fatalf("got op=%d len=%d, want op=%d len=%d", op, len(got), tc.op, len(p))
			}
			last := len(c.frameSizes) - 1
			for i, n := range c.frameSizes {
				if i < last && n < websocket.WriterFrameSize || i == last && n >= websocket.WriterFrameSize {
					c.t.Fatalf("frame %d of %d carries %d bytes (WriterFrameSize %d)", i, frames, n, websocket.WriterFrameSize)
				}
			}
			if max := tc.size/websocket.WriterFrameSize + 1; frames > max {
				c.t.Fatalf("the message came in %d frames, want at most %d", frames, max)
			}
		}})
	}
	// Compressed and fragmented: RSV1 on the first frame only (checked by
	// readMessage), the frames inflate to the message.
	deflate := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	cs = append(cs, cfCase{id: "10.2.1", path: "/frag?n=4096", offer: "permessage-deflate", accept: &deflate, run: func(c *cfConn) {
		p := cfTextOf(256 << 10) // compresses to several WriterFrameSize
		c.compressed(cfText, p, 0)
		op, got, frames := c.readMessage()
		if op != cfText || !bytes.Equal(got, p) || frames < 2 {
			c.t.Fatalf("got op=%d len=%d in %d frames, want the text of %d bytes in several frames", op, len(got), frames, len(p))
		}
	}})
	return cs
}

// deflateExchange sends compressed and uncompressed messages of each size
// and expects their echo, several of each so that context takeover (where
// negotiated) carries across messages.
func deflateExchange(op byte, sizes []int, frameSize int) func(c *cfConn) {
	return func(c *cfConn) {
		for _, n := range sizes {
			p := cfTextOf(n)
			if op == cfBinary {
				p = append(cfTextOf(n/2), cfPattern(n-n/2, uint32(n))...)
			}
			for range 3 {
				c.compressed(op, p, frameSize)
			}
			c.message(op, p)
			for range 4 {
				c.expectMessage(op, p)
			}
		}
	}
}

var cfDeflateSizes = []int{16, 64, 128, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 128 << 10}

// Group 12: permessage-deflate round trips, text and binary, of sizes 16 B
// to 128 KiB: 12.1/12.2 without context takeover (/echo), 12.3/12.4 with
// it (/echo-ctx), 12.5 compressed messages split into frames of 100 bytes.
func cfDeflate() []cfCase {
	noCtx := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	ctx := "permessage-deflate"
	var cs []cfCase
	for i, n := range cfDeflateSizes {
		sz := []int{n}
		cs = append(cs,
			cfCase{id: fmt.Sprintf("12.1.%d", i+1), offer: "permessage-deflate", accept: &noCtx, run: deflateExchange(cfText, sz, 0)},
			cfCase{id: fmt.Sprintf("12.2.%d", i+1), offer: "permessage-deflate", accept: &noCtx, run: deflateExchange(cfBinary, sz, 0)},
			cfCase{id: fmt.Sprintf("12.3.%d", i+1), path: "/echo-ctx", offer: "permessage-deflate", accept: &ctx, run: deflateExchange(cfText, sz, 0)},
			cfCase{id: fmt.Sprintf("12.4.%d", i+1), path: "/echo-ctx", offer: "permessage-deflate", accept: &ctx, run: deflateExchange(cfBinary, sz, 0)},
			cfCase{id: fmt.Sprintf("12.5.%d", i+1), path: "/echo-ctx", offer: "permessage-deflate", accept: &ctx, run: deflateExchange(cfText, sz, 100)},
		)
	}
	return cs
}

// Group 13: permessage-deflate offers with each parameter, the exact
// answer, and messages of several sizes in both directions under it.
func cfDeflateOffers() []cfCase {
	sizes := []int{16, 1 << 10, 64 << 10}
	str := func(s string) *string { return &s }
	var cs []cfCase
	add := func(id, path, offer, accept string) {
		run := deflateExchange(cfText, sizes, 0)
		if accept == "" {
			run = echoCase(cfText, []byte("no compression"), cfTextOf(64<<10))
		}
		cs = append(cs, cfCase{id: id, path: path, offer: offer, accept: str(accept), run: run})
	}
	add("13.1.1", "/echo", "permessage-deflate", "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
	add("13.1.2", "/echo-ctx", "permessage-deflate", "permessage-deflate")
	add("13.2.1", "/echo-ctx", "permessage-deflate; client_no_context_takeover", "permessage-deflate; client_no_context_takeover")
	add("13.2.2", "/echo-ctx", "permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover")
	add("13.2.3", "/echo-ctx", "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		"permessage-deflate; server_no_context_takeover; client_no_context_takeover")
	for bits := 8; bits <= 15; bits++ {
		add(fmt.Sprintf("13.3.%d", bits-7), "/echo-ctx", fmt.Sprintf("permessage-deflate; server_max_window_bits=%d", bits),
			fmt.Sprintf("permessage-deflate; server_max_window_bits=%d", bits))
		add(fmt.Sprintf("13.4.%d", bits-7), "/echo-ctx", fmt.Sprintf("permessage-deflate; client_max_window_bits=%d", bits), "permessage-deflate")
		add(fmt.Sprintf("13.5.%d", bits-7), "/echo", fmt.Sprintf("permessage-deflate; client_max_window_bits=%d; server_max_window_bits=%d", bits, bits),
			fmt.Sprintf("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=%d", bits))
	}
	add("13.6.1", "/echo-ctx", "permessage-deflate; client_max_window_bits", "permessage-deflate")
	add("13.6.2", "/echo-ctx", `permessage-deflate; server_max_window_bits="10"`, "permessage-deflate; server_max_window_bits=10")
	add("13.6.3", "/echo", "PerMessage-Deflate; Server_No_Context_Takeover", "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
	// The first acceptable offer wins; unknown extensions are ignored.
	add("13.7.1", "/echo-ctx", "permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover",
		"permessage-deflate; client_no_context_takeover")
	add("13.7.2", "/echo", "x-webkit-deflate-frame, permessage-deflate", "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
	add("13.7.3", "/echo-ctx", "permessage-deflate; server_no_context_takeover, permessage-deflate", "permessage-deflate; server_no_context_takeover")
	// Offers the server must decline: the connection goes on without
	// compression.
	for i, offer := range []string{
		"permessage-deflate; server_max_window_bits=7",
		"permessage-deflate; server_max_window_bits=16",
		"permessage-deflate; server_max_window_bits",
		"permessage-deflate; server_max_window_bits=010",
		"permessage-deflate; client_max_window_bits=0",
		"permessage-deflate; client_max_window_bits=16",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
		"permessage-deflate; unknown_parameter",
		"x-webkit-deflate-frame",
	} {
		add(fmt.Sprintf("13.8.%d", i+1), "/echo", offer, "")
	}
	return cs
}

// Group X: what Autobahn does not check but RFC 6455 and RFC 7692 require
// of a server.
func cfExtra() []cfCase {
	deflate := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	return []cfCase{
		// Client frames must be masked.
		{id: "X.1.1", run: failCase(1002, func(c *cfConn) { c.raw(cfFrame(true, 0, cfText, []byte("unmasked"), nil)) })},
		{id: "X.1.2", run: failCase(1002, func(c *cfConn) { c.raw(cfFrame(true, 0, cfPing, []byte("unmasked"), nil)) })},
		// A 64-bit length with the most significant bit set.
		{id: "X.2.1", run: failCase(1002, func(c *cfConn) {
			c.raw([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
		})},
		// The read limit: a message over it is refused with 1009 as soon as
		// its length is known, whole or fragmented; one at the limit passes.
		{id: "X.3.1", path: "/small", run: echoCase(cfBinary, cfPattern(rframeLimit, 3))},
		{id: "X.3.2", path: "/small", run: failCase(1009, func(c *cfConn) {
			// Only the header of a frame one byte over the limit.
			c.raw([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4})
		})},
		{id: "X.3.3", path: "/small", run: failCase(1009, func(c *cfConn) {
			c.send(false, 0, cfBinary, cfPattern(rframeLimit/2, 1))
			c.send(false, 0, cfCont, cfPattern(rframeLimit/2, 2))
			c.send(true, 0, cfCont, []byte{1})
		})},
		// A continuation frame declaring 1<<63-1 bytes after a 1-byte
		// fragment: the declared length alone is over the limit (added to
		// what was read, it overflows int64).
		{id: "X.3.5", path: "/small", run: failCase(1009, func(c *cfConn) {
			c.send(false, 0, cfBinary, []byte{1})
			c.raw([]byte{0x80, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
		})},
		// A small compressed frame that inflates past the read limit.
		{id: "X.3.4", path: "/small", offer: "permessage-deflate", accept: &deflate, run: failCase(1009, func(c *cfConn) {
			c.compressed(cfBinary, make([]byte, 8*rframeLimit), 0)
		})},
		// Over HTTP/2 a clean close ends the stream with END_STREAM (RFC
		// 8441 §5: RST_STREAM stands for a TCP reset), whether the client
		// or the server began the close.
		{id: "X.5.1", run: func(c *cfConn) {
			c.send(true, 0, cfClose, cfCloseBody(1000, ""))
			c.expectClose(1000)
			if c.endErr != nil {
				c.t.Fatalf("after the close handshake the stream ended with %v, want END_STREAM", c.endErr)
			}
		}},
		{id: "X.5.2", run: func(c *cfConn) {
			c.send(true, 0, cfPing, make([]byte, 126))
			c.expectClose(1002)
			if c.endErr != nil {
				c.t.Fatalf("after the close handshake the stream ended with %v, want END_STREAM", c.endErr)
			}
		}},
		// A compressed message that is invalid deflate data.
		{id: "X.4.1", offer: "permessage-deflate", accept: &deflate, run: func(c *cfConn) {
			c.send(true, 4, cfBinary, []byte{0xff, 0xff, 0xff, 0xff, 0xff})
			c.expectClose(1007)
		}},
	}
}
