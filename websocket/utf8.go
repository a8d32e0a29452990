package websocket

import "encoding/binary"

// utf8State validates UTF-8 incrementally, across frame and read
// boundaries, rejecting a sequence at its first byte that cannot start or
// continue a valid encoding (overlongs, surrogates and code points past
// U+10FFFF included), so that invalid text fails fast.
type utf8State struct {
	need   uint8 // continuation bytes still expected
	lo, hi byte  // range of the next continuation byte
}

// valid feeds p to the validator and reports whether it is still valid.
func (s *utf8State) valid(p []byte) bool {
	i := 0
	for i < len(p) {
		if s.need == 0 {
			for i+8 <= len(p) && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0 {
				i += 8
			}
			if i == len(p) {
				break
			}
			b := p[i]
			i++
			switch {
			case b < 0x80:
			case b >= 0xC2 && b <= 0xDF:
				s.need, s.lo, s.hi = 1, 0x80, 0xBF
			case b == 0xE0:
				s.need, s.lo, s.hi = 2, 0xA0, 0xBF
			case b == 0xED:
				s.need, s.lo, s.hi = 2, 0x80, 0x9F
			case b >= 0xE1 && b <= 0xEF:
				s.need, s.lo, s.hi = 2, 0x80, 0xBF
			case b == 0xF0:
				s.need, s.lo, s.hi = 3, 0x90, 0xBF
			case b >= 0xF1 && b <= 0xF3:
				s.need, s.lo, s.hi = 3, 0x80, 0xBF
			case b == 0xF4:
				s.need, s.lo, s.hi = 3, 0x80, 0x8F
			default:
				return false
			}
			continue
		}
		b := p[i]
		i++
		if b < s.lo || b > s.hi {
			return false
		}
		s.need--
		s.lo, s.hi = 0x80, 0xBF
	}
	return true
}

// complete reports whether the input so far ends on a code point boundary.
func (s *utf8State) complete() bool { return s.need == 0 }

func (s *utf8State) reset() { *s = utf8State{} }
