package websocket

import (
	"net/http"
	"time"
)

// Compression selects permessage-deflate (RFC 7692) for a connection.
type Compression int

// The compression modes. With either enabled mode, a client that offers
// permessage-deflate gets it; one that does not gets plain frames.
const (
	// CompressionDisabled declines permessage-deflate (the default).
	CompressionDisabled Compression = iota
	// CompressionNoContextTakeover negotiates permessage-deflate with
	// server_no_context_takeover and client_no_context_takeover: every
	// message is compressed on its own, so a connection holds no
	// compression state between messages.
	CompressionNoContextTakeover
	// CompressionContextTakeover negotiates permessage-deflate keeping the
	// sliding window across messages where the client allows it: better
	// ratios for many small similar messages, at up to about 1 MB of
	// state per connection (a compressor and a 32 KiB window for each
	// direction). Each is allocated when first used, so a connection
	// that never sends or receives a compressed message pays nothing.
	CompressionContextTakeover
)

// DefaultReadLimit is the largest message a Conn reads unless
// Options.ReadLimit or SetReadLimit say otherwise: 1 MiB. A peer can make
// Read and AppendMessage hold a message of up to the limit, so a server
// may need about the limit times its connections in memory; raise it
// per route for larger messages (Conn.Reader streams a message without
// holding it whole). It was 32 MiB before.
const DefaultReadLimit = 1 << 20

// DefaultCompressionThreshold is the size below which Write sends a
// message uncompressed unless Options.CompressionThreshold says otherwise:
// deflate cannot shrink so little data by enough to pay for itself.
const DefaultCompressionThreshold = 128

// Options configure Accept, Handler and Upgrade. The zero value is
// usable: no subprotocols, same-origin browsers only, messages of up to
// 1 MiB, no compression.
type Options struct {
	// Subprotocols lists the subprotocols the server speaks, in its order
	// of preference. The first of them that the client offers in
	// Sec-WebSocket-Protocol is selected; if none is, the connection has
	// no subprotocol (Conn.Subprotocol returns "").
	Subprotocols []string

	// OriginPatterns lists extra origins allowed besides the same origin,
	// as path.Match patterns on the Origin's host[:port], compared
	// case-insensitively ("*.example.com", "localhost:*").
	OriginPatterns []string

	// CheckOrigin, if set, alone decides whether a request's origin is
	// allowed; OriginPatterns and the same-origin rule are not consulted.
	CheckOrigin func(r *http.Request) bool

	// AllowAnyOrigin accepts every Origin. It is for demos and tests: a
	// page on any site could then open an authenticated WebSocket with
	// the user's cookies.
	AllowAnyOrigin bool

	// ReadLimit is the largest message, after decompression, that the
	// Conn reads; a larger one fails the connection with close 1009
	// (message too big). Zero means DefaultReadLimit (1 MiB); a negative
	// value means no limit. Read and AppendMessage hold a message whole,
	// so the memory that peers can claim is about the limit times the
	// number of connections.
	ReadLimit int64

	// Compression selects permessage-deflate. See Compression.
	Compression Compression

	// CompressionThreshold is the smallest message that Write compresses
	// when compression was negotiated; smaller messages are sent plain.
	// Zero means DefaultCompressionThreshold (128 bytes); use 1 to
	// compress every non-empty message. Messages written with Writer are
	// always compressed.
	CompressionThreshold int

	// OnPing, if set, is called with the payload of every ping received,
	// after the automatic pong has been written. It runs on the reading
	// goroutine and must not block.
	OnPing func(data []byte)

	// OnPong, if set, is called with the payload of every pong received.
	// It runs on the reading goroutine and must not block.
	OnPong func(data []byte)

	// KeepAlive, if positive, pings the peer every KeepAlive and fails
	// the connection (CloseNow; a read under way returns an error saying
	// no pong came) when the pong has not arrived within the next
	// KeepAlive, which counts the wait to send the ping behind a long
	// write too. Pongs are seen by the reader, so a Conn with KeepAlive
	// needs one: a Read loop, or CloseRead.
	KeepAlive time.Duration
}

func (o *Options) readLimit() int64 {
	switch {
	case o.ReadLimit == 0:
		return DefaultReadLimit
	case o.ReadLimit < 0:
		return -1
	}
	return o.ReadLimit
}

func (o *Options) compressionThreshold() int {
	if o.CompressionThreshold <= 0 {
		return DefaultCompressionThreshold
	}
	return o.CompressionThreshold
}
