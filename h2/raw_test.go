package h2

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawConn is a client connection driven frame by frame.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	fr   *http2.Framer
	henc *hpack.Encoder
	hbuf bytes.Buffer
	// settings holds the server's first SETTINGS frame.
	settings map[http2.SettingID]uint32
	// goaways holds GOAWAY frames that response skipped over.
	goaways []*http2.GoAwayFrame
}

// dialRaw connects to ts, sends the preface and SETTINGS (settings, or
// none), and reads the server's SETTINGS.
func dialRaw(t testing.TB, ts *testServer, settings ...http2.Setting) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := newRawConn(t, c)
	io.WriteString(c, http2.ClientPreface)
	if settings == nil {
		settings = []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 20}}
	}
	rc.fr.WriteSettings(settings...)
	rc.fr.WriteWindowUpdate(0, 1<<20)
	rc.readServerSettings()
	return rc
}

func newRawConn(t testing.TB, c net.Conn) *rawConn {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &rawConn{t: t, c: c, fr: http2.NewFramer(c, bufio.NewReader(c))}
	rc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	rc.henc = hpack.NewEncoder(&rc.hbuf)
	return rc
}

func (rc *rawConn) readServerSettings() {
	rc.t.Helper()
	f := rc.read()
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		rc.t.Fatalf("first frame %v, want SETTINGS", f)
	}
	rc.settings = map[http2.SettingID]uint32{}
	sf.ForeachSetting(func(s http2.Setting) error { rc.settings[s.ID] = s.Val; return nil })
	rc.fr.WriteSettingsAck()
}

// read returns the next frame; a MetaHeadersFrame for header blocks.
func (rc *rawConn) read() http2.Frame {
	rc.t.Helper()
	f, err := rc.fr.ReadFrame()
	if err != nil {
		rc.t.Fatalf("reading frame: %v", err)
	}
	return f
}

// readUntil reads frames until match accepts one, and returns it.
func (rc *rawConn) readUntil(what string, match func(http2.Frame) bool) http2.Frame {
	rc.t.Helper()
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			rc.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// headers sends a header block; pseudo fields first, in order.
func (rc *rawConn) headers(id uint32, end bool, fields ...string) {
	rc.t.Helper()
	rc.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		rc.henc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.hbuf.Bytes(), EndStream: end, EndHeaders: true}); err != nil {
		rc.t.Fatal(err)
	}
}

// get sends a GET for path on stream id.
func (rc *rawConn) get(id uint32, path string, extra ...string) {
	rc.headers(id, true, append([]string{":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", path}, extra...)...)
}

// post opens a POST for path on stream id, leaving the body open.
func (rc *rawConn) post(id uint32, path string, extra ...string) {
	rc.headers(id, false, append([]string{":method", "POST", ":scheme", "http", ":authority", "example.com", ":path", path}, extra...)...)
}

// wantRST reads until RST_STREAM on id and checks its code.
func (rc *rawConn) wantRST(id uint32, code http2.ErrCode) {
	rc.t.Helper()
	f := rc.readUntil("RST_STREAM", func(f http2.Frame) bool {
		_, ok := f.(*http2.RSTStreamFrame)
		return ok && f.Header().StreamID == id
	}).(*http2.RSTStreamFrame)
	if f.ErrCode != code {
		rc.t.Fatalf("RST_STREAM %v on stream %d, want %v", f.ErrCode, id, code)
	}
}

// wantGoAway reads until GOAWAY and checks its code.
func (rc *rawConn) wantGoAway(code http2.ErrCode) *http2.GoAwayFrame {
	rc.t.Helper()
	var f *http2.GoAwayFrame
	if len(rc.goaways) > 0 {
		f, rc.goaways = rc.goaways[0], rc.goaways[1:]
	} else {
		f = rc.readUntil("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	}
	if f.ErrCode != code {
		rc.t.Fatalf("GOAWAY %v (%q), want %v", f.ErrCode, f.DebugData(), code)
	}
	return f
}

// ping checks that the connection still works: a PING is answered.
func (rc *rawConn) ping() {
	rc.t.Helper()
	data := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	rc.fr.WritePing(false, data)
	rc.readUntil("PING ACK", func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == data
	})
}

// response reads stream id's response: status, header, body, trailers.
type rawResponse struct {
	status   string
	header   []hpack.HeaderField
	infos    []string // 1xx statuses, in order
	body     []byte
	trailers []hpack.HeaderField
}

func (r rawResponse) get(name string) string {
	for _, f := range r.header {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

func (rc *rawConn) response(id uint32) rawResponse {
	rc.t.Helper()
	var r rawResponse
	for {
		f := rc.read()
		if g, ok := f.(*http2.GoAwayFrame); ok {
			g2 := *g
			rc.goaways = append(rc.goaways, &g2)
		}
		if f.Header().StreamID != id {
			continue
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			status := f.PseudoValue("status")
			switch {
			case status == "" && r.status != "":
				r.trailers = f.RegularFields()
			case status[0] == '1':
				r.infos = append(r.infos, status)
			default:
				r.status, r.header = status, f.RegularFields()
			}
			if f.StreamEnded() {
				return r
			}
		case *http2.DataFrame:
			r.body = append(r.body, f.Data()...)
			if f.StreamEnded() {
				return r
			}
		case *http2.RSTStreamFrame:
			rc.t.Fatalf("stream %d reset: %v", id, f.ErrCode)
		}
	}
}

// isClosed reports whether the server has closed the connection (after
// reading and dropping what it still sent).
func (rc *rawConn) waitClosed() error {
	for {
		if _, err := rc.fr.ReadFrame(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
	}
}
