package h2meta

import (
	"encoding/binary"

	"golang.org/x/net/http2"
)

// WindowUpdate returns the increment of the WINDOW_UPDATE frame whose
// header is fh and whose payload begins p, when that frame is one the
// Framer would return without an error: a 4-byte payload, all of it in p,
// and an increment that is not zero. Otherwise it reports false, and the
// read loop lets the Framer read the frame and find what is wrong with
// it (FRAME_SIZE_ERROR, or PROTOCOL_ERROR for a zero increment). Parsed
// this way, into a frame the read loop reuses, a WINDOW_UPDATE costs no
// allocation: the Framer allocates one for each, and a peer sends one
// for about every 64 KiB it receives.
func WindowUpdate(fh http2.FrameHeader, p []byte) (uint32, bool) {
	if fh.Type != http2.FrameWindowUpdate || fh.Length != 4 || len(p) < 4 {
		return 0, false
	}
	inc := binary.BigEndian.Uint32(p) & 0x7fffffff // the reserved bit is ignored (RFC 9113 section 6.9)
	return inc, inc != 0
}
