package h2

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func selfSignedTLS(t *testing.T) *tls.Config {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"x"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{"h2"}}
}

// TestLeadInterruptStress: a tunnel echoes a stream of bytes while
// another goroutine of its handler keeps calling SetReadDeadline (each
// call wakes the body and so interrupts the leader's fill with a read
// deadline in the past), and the client interleaves PINGs. Every byte
// must come back in order, over TCP and over TLS.
func TestLeadInterruptStress(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "tcp", true: "tls"}[useTLS]
		t.Run(name, func(t *testing.T) { testLeadInterruptStress(t, useTLS) })
	}
}

func testLeadInterruptStress(t *testing.T, useTLS bool) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var tcfg *tls.Config
	if useTLS {
		tcfg = selfSignedTLS(t)
		ln = tls.NewListener(ln, tcfg)
	}
	srv := &Server{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var wg sync.WaitGroup
	var interrupts, led int64
	var mu sync.Mutex
	hdone := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		b := r.Body.(*requestBody)
		stop := make(chan struct{})
		var iwg sync.WaitGroup
		iwg.Add(1)
		go func() {
			defer iwg.Done()
			n := int64(0)
			for {
				select {
				case <-stop:
					mu.Lock()
					interrupts += n
					mu.Unlock()
					return
				default:
				}
				rc.SetReadDeadline(time.Now().Add(time.Hour))
				n++
				time.Sleep(20 * time.Microsecond)
			}
		}()
		buf := make([]byte, 1000)
		nled := int64(0)
		for {
			n, err := b.Read(buf)
			if b.st.leads.Load() {
				nled++
			}
			if n > 0 {
				w.Write(buf[:n])
				rc.Flush()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err != nil {
				break
			}
		}
		close(stop)
		iwg.Wait()
		mu.Lock()
		led += nled
		mu.Unlock()
		close(hdone)
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if tc, ok := c.(*tls.Conn); ok {
					if tc.Handshake() != nil {
						c.Close()
						return
					}
				}
				srv.ServeConn(c, &ServeConnOpts{Handler: h})
			}()
		}
	}()
	defer func() {
		ln.Close()
		c2 := serverConns(srv)
		for _, x := range c2 {
			x.Close()
		}
		wg.Wait()
	}()

	var c net.Conn
	if useTLS {
		c, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	} else {
		c, err = net.Dial("tcp", ln.Addr().String())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	var wmu sync.Mutex
	fr := http2.NewFramer(c, bufio.NewReader(c))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	io.WriteString(c, http2.ClientPreface)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	fr.WriteWindowUpdate(0, 1<<30)
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	for _, f := range [][2]string{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hbuf.Bytes(), EndHeaders: true})

	const total = 1 << 19
	want := make([]byte, total)
	for i := range want {
		want[i] = byte(i * 7 / 3)
	}
	sendErr := make(chan error, 1)
	go func() {
		off := 0
		for i := 0; off < total; i++ {
			n := min(1+(i*37)%3000, total-off)
			wmu.Lock()
			err := fr.WriteData(1, false, want[off:off+n])
			if err == nil && i%5 == 0 {
				err = fr.WritePing(false, [8]byte{byte(i)})
			}
			wmu.Unlock()
			if err != nil {
				sendErr <- err
				return
			}
			off += n
			if i%3 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		sendErr <- nil
	}()
	var got []byte
	for len(got) < total {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d bytes echoed: %v", len(got), err)
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			if f.StreamID != 1 {
				continue
			}
			got = append(got, f.Data()...)
			if n := len(f.Data()); n > 0 {
				wmu.Lock()
				fr.WriteWindowUpdate(1, uint32(n))
				wmu.Unlock()
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("RST_STREAM %v", f.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v %q", f.ErrCode, f.DebugData())
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("echo differs from byte %d of %d", i, total)
	}
	wmu.Lock()
	fr.WriteData(1, true, nil)
	wmu.Unlock()
	select {
	case <-hdone:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not return 10 s after END_STREAM")
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("interrupting SetReadDeadline calls %d, Reads returning as leader %d", interrupts, led)
	if led == 0 {
		t.Error("no Read read the connection: the interrupts were not tested")
	}
}

func serverConns(s *Server) []net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cs []net.Conn
	for sc := range s.conns {
		cs = append(cs, sc.c)
	}
	return cs
}
