package h2client

import (
	"context"
	"encoding/binary"
	"fmt"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// WriteHeaders opens a stream the way a misbehaving client would: it writes
// fields as a header block (HEADERS, then CONTINUATION frames as needed) on
// the next stream ID without checking for GOAWAY, the server's
// MAX_CONCURRENT_STREAMS or its header list size, and without tracking the
// stream: whatever the server sends on it is discarded. It returns the
// stream ID. Tests use it to see what a server does with frames that
// RoundTrip refuses to send, such as a new stream after GOAWAY.
func (cc *ClientConn) WriteHeaders(fields []hpack.HeaderField, endStream bool) (uint32, error) {
	var id uint32
	err := cc.write(context.Background(), nil, func(*http2.Framer) error {
		cc.mu.Lock()
		id = cc.nextStreamID
		cc.nextStreamID += 2
		cc.mu.Unlock()
		return cc.writeHeaderBlock(id, fields, endStream)
	})
	return id, err
}

// Ping sends a PING frame and waits for the server to acknowledge it. An
// HTTP/2 server handles frames in the order they arrive, so once Ping
// returns nil, the server has processed every frame written before it.
func (cc *ClientConn) Ping(ctx context.Context) error {
	cc.mu.Lock()
	if cc.pings == nil {
		cc.pings = make(map[[8]byte]chan struct{})
	}
	cc.pingSeq++
	var data [8]byte
	binary.BigEndian.PutUint64(data[:], cc.pingSeq)
	acked := make(chan struct{})
	cc.pings[data] = acked
	cc.mu.Unlock()
	defer func() {
		cc.mu.Lock()
		delete(cc.pings, data)
		cc.mu.Unlock()
	}()
	if err := cc.write(ctx, nil, func(fr *http2.Framer) error { return fr.WritePing(false, data) }); err != nil {
		return err
	}
	select {
	case <-acked:
		return nil
	case <-cc.readDone:
		return fmt.Errorf("h2client: connection lost before the PING was acknowledged: %w", cc.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onPingAck marks the Ping waiting for data as acknowledged.
func (cc *ClientConn) onPingAck(data [8]byte) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if acked, ok := cc.pings[data]; ok {
		close(acked)
		delete(cc.pings, data)
	}
}
