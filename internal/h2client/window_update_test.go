package h2client

import (
	"context"
	"testing"

	"golang.org/x/net/http2"
)

// TestClientWindowUpdateChecks sends the client WINDOW_UPDATE frames that
// readFrame does not parse itself (a zero increment on a stream, then a
// payload of the wrong length) between valid ones that it does, and
// checks that each bad one gets the error RFC 9113 asks for: RST_STREAM
// PROTOCOL_ERROR for the stream (6.9), then GOAWAY FRAME_SIZE_ERROR for
// the connection (6.9, 4.2), while a valid increment is applied.
func TestClientWindowUpdateChecks(t *testing.T) {
	checkNoLeaks(t)
	type seen struct {
		rst  http2.ErrCode
		away http2.ErrCode
	}
	got := make(chan seen, 1)
	addr := startRaw(t, nil, func(s *rawServer) {
		var r seen
		defer func() { got <- r }()
		id := s.readHeaders()
		if id == 0 {
			return
		}
		s.fr.WriteWindowUpdate(0, 1000) // valid: parsed in place
		s.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, id, []byte{0, 0, 0, 0})
		for r.rst == 0 {
			f, err := s.fr.ReadFrame()
			if err != nil {
				return
			}
			if rs, ok := f.(*http2.RSTStreamFrame); ok && rs.StreamID == id {
				r.rst = rs.ErrCode
			}
		}
		s.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0, 0, 1, 0})
		for {
			f, err := s.fr.ReadFrame()
			if err != nil {
				return
			}
			if ga, ok := f.(*http2.GoAwayFrame); ok {
				r.away = ga.ErrCode
				return
			}
		}
	})
	cc := dialH2(t, addr, ClientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil).WithContext(ctx)); err == nil {
		t.Error("RoundTrip succeeded on a stream the server gave a zero increment")
	}
	r := await(t, got, "the server's script")
	if r.rst != http2.ErrCodeProtocol {
		t.Errorf("RST_STREAM for a zero increment: %v, want PROTOCOL_ERROR", r.rst)
	}
	if r.away != http2.ErrCodeFrameSize {
		t.Errorf("GOAWAY for a 5-byte WINDOW_UPDATE: %v, want FRAME_SIZE_ERROR", r.away)
	}
}
