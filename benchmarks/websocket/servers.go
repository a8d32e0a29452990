package websocket

import (
	"io"
	"net/http"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
)

// readInto reads all of r into buf[:0], growing buf only when the message
// is larger than its capacity, and returns the filled slice.
func readInto(buf []byte, r io.Reader) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// GorillaEcho is gorilla/websocket at its fastest: NextReader into a
// reused buffer, then WriteMessage (a single frame, written from the
// connection's own buffer). Default buffer sizes (4 KiB), no compression,
// no read limit (gorilla has none by default).
func GorillaEcho() http.Handler {
	up := &gorilla.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var buf []byte
		for {
			typ, rd, err := c.NextReader()
			if err != nil {
				return
			}
			if buf, err = readInto(buf, rd); err != nil {
				return
			}
			if err := c.WriteMessage(typ, buf); err != nil {
				return
			}
		}
	})
}

// CoderEcho is coder/websocket at its fastest: Reader into a reused
// buffer, then Write (a single frame). Compression disabled; the read
// limit raised from its default of 32 KiB to 32 MiB, so that 64 KiB
// messages pass (molt's default, 1 MiB, already lets them).
func CoderEcho() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, &coder.AcceptOptions{
			InsecureSkipVerify: true,
			CompressionMode:    coder.CompressionDisabled,
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(32 << 20)
		ctx := r.Context()
		var buf []byte
		for {
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				if coder.CloseStatus(err) == coder.StatusNormalClosure {
					c.Close(coder.StatusNormalClosure, "")
				}
				return
			}
			if buf, err = readInto(buf, rd); err != nil {
				return
			}
			if err := c.Write(ctx, typ, buf); err != nil {
				return
			}
		}
	})
}
