package h2client

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestSendBodyAnsweredEarly: a server that answers a request whose body
// waits for credit (END_STREAM on its response, no RST_STREAM, no credit)
// while its one concurrent stream is taken. The response is complete, so
// the client stops the body and ends the stream on the wire with
// RST_STREAM (as x/net's Transport does) before calling done: the Send
// that done makes gets the stream slot, and the server sees the reset
// before the new stream's HEADERS and no DATA after it.
func TestSendBodyAnsweredEarly(t *testing.T) {
	checkNoLeaks(t)
	wire := make(chan string, 1)
	addr := startRaw(t, []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 1}, {ID: http2.SettingInitialWindowSize, Val: 1000}}, func(s *rawServer) {
		first := s.readHeaders()
		if first == 0 {
			return
		}
		s.respond(first, "200")
		var log string
		var data int
		reset := false
		for {
			f, err := s.fr.ReadFrame()
			if err != nil {
				wire <- log + fmt.Sprintf(" read: %v", err)
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					s.fr.WriteSettingsAck()
				}
			case *http2.DataFrame:
				if f.StreamID == first {
					data += len(f.Data())
					if reset {
						log += " DATA after RST_STREAM;"
					}
				}
			case *http2.RSTStreamFrame:
				if f.StreamID == first {
					reset = true
				}
			case *http2.MetaHeadersFrame:
				if !reset {
					log += fmt.Sprintf(" stream %d opened before stream %d was reset;", f.StreamID, first)
				}
				if data > 1000 {
					log += fmt.Sprintf(" %d bytes of DATA in a window of 1000;", data)
				}
				s.respond(f.StreamID, "204")
				wire <- log
				s.drain()
				return
			}
		}
	})
	cc := dialH2(t, addr, ClientOptions{})
	for deadline := time.Now().Add(testTimeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, ok := cc.PeerMaxConcurrentStreams(); ok {
			break
		}
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/", nil)
	p, err := PrepareBody(req, pattern(64<<10, 3))
	if err != nil {
		t.Fatal(err)
	}
	next := prepare(t, "GET", "http://"+addr+"/")
	first := make(chan Result, 1)
	second := make(chan Result, 1)
	sendErr := make(chan error, 1)
	if _, err := cc.Send(p, func(r Result) {
		first <- r
		_, err := cc.Send(next, func(r Result) { second <- r })
		sendErr <- err
	}); err != nil {
		t.Fatal(err)
	}
	if r := await(t, first, "the early answer"); r.Err != nil || r.Status != http.StatusOK {
		t.Errorf("early answer: %+v, want 200", r)
	}
	if err := await(t, sendErr, "the Send from done"); err != nil {
		t.Fatalf("Send from the done of a complete response: %v, want its stream slot free", err)
	}
	if r := await(t, second, "the next request"); r.Err != nil || r.Status != http.StatusNoContent {
		t.Errorf("next request: %+v, want 204", r)
	}
	if log := await(t, wire, "the server's view"); log != "" {
		t.Errorf("server saw:%s", log)
	}
}

// TestSendBodyGoAwayMidBody: a GOAWAY that arrives while two bodies wait
// for credit lets the stream at its last-stream-id send its body to the
// end and be answered, and refuses the other, whose body sender stops.
func TestSendBodyGoAwayMidBody(t *testing.T) {
	checkNoLeaks(t)
	addr := startRaw(t, []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1000}}, func(s *rawServer) {
		var ids []uint32
		got := map[uint32]int{}
		goaway := false
		for {
			f, err := s.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					s.fr.WriteSettingsAck()
				}
			case *http2.MetaHeadersFrame:
				ids = append(ids, f.StreamID)
			case *http2.DataFrame:
				got[f.StreamID] += len(f.Data())
				if f.StreamID == 1 && goaway {
					if n := uint32(len(f.Data())); n > 0 {
						s.fr.WriteWindowUpdate(0, n)
						s.fr.WriteWindowUpdate(1, n)
					}
				}
				if f.StreamEnded() && f.StreamID == 1 {
					if got[1] != 64<<10 {
						s.t.Errorf("got %d bytes", got[1])
					}
					s.respond(1, "200")
					s.drain()
					return
				}
			}
			if len(ids) == 2 && !goaway && got[1] == 1000 && got[3] == 1000 {
				goaway = true
				s.fr.WriteGoAway(1, http2.ErrCodeNo, nil)
				s.fr.WriteWindowUpdate(0, 1000)
				s.fr.WriteWindowUpdate(1, 1000)
			}
		}
	})
	cc := dialH2(t, addr, ClientOptions{})
	for deadline := time.Now().Add(testTimeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, ok := cc.PeerMaxConcurrentStreams(); ok {
			break
		}
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/", nil)
	p, _ := PrepareBody(req, pattern(64<<10, 3))
	ch := make(chan Result, 2)
	for range 2 {
		if _, err := cc.Send(p, func(r Result) { ch <- r }); err != nil {
			t.Fatal(err)
		}
	}
	var ok, refused int
	for range 2 {
		r := await(t, ch, "result")
		switch {
		case r.Err == nil && r.Status == 200:
			ok++
		case errors.Is(r.Err, ErrStreamRefused):
			refused++
		default:
			t.Errorf("%+v", r)
		}
	}
	if ok != 1 || refused != 1 {
		t.Errorf("ok %d refused %d", ok, refused)
	}
}
