package h2ctest

import (
	"net"
	"net/http"
	"testing"

	"github.com/molt-http/molt/internal/h2client"
)

// The HTTP/2 client lives in internal/h2client; these names keep the
// tests that drive it through h2ctest unchanged.
type (
	// ClientConn is [h2client.ClientConn].
	ClientConn = h2client.ClientConn
	// ClientOptions is [h2client.ClientOptions].
	ClientOptions = h2client.ClientOptions
	// Stream is [h2client.Stream].
	Stream = h2client.Stream
	// UpgradeResult is [h2client.UpgradeResult].
	UpgradeResult = h2client.UpgradeResult
	// UpgradeTransport is [h2client.UpgradeTransport].
	UpgradeTransport = h2client.UpgradeTransport
)

// Errors of the client, as [h2client] defines them.
var (
	ErrNoExtendedConnect = h2client.ErrNoExtendedConnect
	ErrStreamRefused     = h2client.ErrStreamRefused
)

// NewClientConn is [h2client.NewClientConn].
func NewClientConn(c net.Conn, opts ClientOptions) (*ClientConn, error) {
	return h2client.NewClientConn(c, opts)
}

// Upgrade is [h2client.Upgrade].
func Upgrade(c net.Conn, req *http.Request, opts ClientOptions) (*UpgradeResult, error) {
	return h2client.Upgrade(c, req, opts)
}

// ClientConn returns an HTTP/2 connection to ts in mode H2CPrior (preface
// right away) or H2CUpgrade (an HTTP/1.1 "GET /" upgraded to h2c, whose
// response on stream 1 is read and discarded, so new streams
// start at 3). It fails the test for mode H1. The connection is closed
// when the test ends.
func (ts *Server) ClientConn(t testing.TB, mode Mode, opts ClientOptions) *ClientConn {
	t.Helper()
	c := ts.Dial(t)
	var cc *ClientConn
	switch mode {
	case H2CPrior:
		var err error
		cc, err = NewClientConn(c, opts)
		if err != nil {
			t.Fatalf("h2c-prior: %v", err)
		}
	case H2CUpgrade:
		req, err := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Upgrade(c, req, opts)
		if err != nil {
			t.Fatalf("h2c-upgrade: %v", err)
		}
		if res.Conn == nil {
			res.Response.Body.Close()
			t.Fatalf("h2c-upgrade: server declined with %s", res.Response.Status)
		}
		cc = res.Conn
		ReadBody(t, res.Response)
	default:
		t.Fatalf("h2ctest: ClientConn: mode %q is not HTTP/2", mode)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}
