package websocket

import (
	"encoding/binary"
	"math/bits"
)

// Opcodes (RFC 6455, section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

const (
	finBit  = 0x80
	rsv1Bit = 0x40
	rsv2Bit = 0x20
	rsv3Bit = 0x10
	maskBit = 0x80

	maxHeaderLen       = 14  // 2 + 8 (length) + 4 (mask key)
	maxControlPayload  = 125 // control frames carry at most this much
	maxCloseReasonSize = maxControlPayload - 2
)

func isControl(op byte) bool { return op&0x8 != 0 }

// frameHeader is a decoded frame header.
type frameHeader struct {
	fin    bool
	rsv1   bool
	rsv23  bool // RSV2 or RSV3 set: no extension we speak defines them
	op     byte
	masked bool
	length int64
	key    [4]byte
}

// headerLen returns the total length of the header that begins with b0
// and b1 (the first two bytes).
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&maskBit != 0 {
		n += 4
	}
	return n
}

// parseHeader decodes a complete header b (len(b) == headerLen(b[1])). It
// reports false for a 64-bit length with the most significant bit set.
func parseHeader(b []byte, h *frameHeader) bool {
	h.fin = b[0]&finBit != 0
	h.rsv1 = b[0]&rsv1Bit != 0
	h.rsv23 = b[0]&(rsv2Bit|rsv3Bit) != 0
	h.op = b[0] & 0x0F
	h.masked = b[1]&maskBit != 0
	p := 2
	switch n := b[1] & 0x7F; n {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
		p = 4
	case 127:
		v := binary.BigEndian.Uint64(b[2:])
		if v>>63 != 0 {
			return false
		}
		h.length = int64(v)
		p = 10
	default:
		h.length = int64(n)
	}
	if h.masked {
		copy(h.key[:], b[p:p+4])
	} else {
		h.key = [4]byte{} // unmasking with a zero key leaves the payload as it is
	}
	return true
}

// putHeader writes an unmasked frame header for a payload of n bytes into
// b (at least maxHeaderLen long) and returns its length.
func putHeader(b []byte, fin, rsv1 bool, op byte, n int) int {
	b0 := op
	if fin {
		b0 |= finBit
	}
	if rsv1 {
		b0 |= rsv1Bit
	}
	b[0] = b0
	switch {
	case n <= 125:
		b[1] = byte(n)
		return 2
	case n <= 0xFFFF:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		return 4
	}
	b[1] = 127
	binary.BigEndian.PutUint64(b[2:], uint64(n))
	return 10
}

// maskBytes XORs b with key, starting at position pos of the key, and
// returns the key position after b. Masking and unmasking are the same.
func maskBytes(key [4]byte, pos int, b []byte) int {
	if len(b) >= 16 {
		k := binary.LittleEndian.Uint32(key[:])
		k = bits.RotateLeft32(k, -8*(pos&3))
		k64 := uint64(k) | uint64(k)<<32
		for len(b) >= 32 { // four words per iteration, one bounds check
			_ = b[31]
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			binary.LittleEndian.PutUint64(b[8:], binary.LittleEndian.Uint64(b[8:])^k64)
			binary.LittleEndian.PutUint64(b[16:], binary.LittleEndian.Uint64(b[16:])^k64)
			binary.LittleEndian.PutUint64(b[24:], binary.LittleEndian.Uint64(b[24:])^k64)
			b = b[32:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= key[pos&3]
		pos++
	}
	return pos & 3
}
