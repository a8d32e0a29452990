package xconnect_test

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/server"
	"github.com/molt-http/molt/server/xconnect"
	"golang.org/x/net/http2"
)

// advertised reports whether a server with engine e sends
// SETTINGS_ENABLE_CONNECT_PROTOCOL=1 in its first SETTINGS.
func advertised(t *testing.T, e h2ctest.Engine, configure ...func(*server.Config)) bool {
	t.Helper()
	ts := h2ctest.NewServer(t, http.NotFoundHandler(), append(configure, h2ctest.WithEngine(e))...)
	nc := ts.Dial(t)
	defer nc.Close()
	if _, err := io.WriteString(nc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(nc, bufio.NewReader(nc))
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v, want SETTINGS", f.Header())
	}
	v, ok := sf.Value(http2.SettingEnableConnectProtocol)
	return ok && v == 1
}

func disable(c *server.Config) { c.HTTP2.DisableExtendedConnect = true }

// TestSwitch checks what importing the package does to each engine: the
// x/net engine advertises extended CONNECT, and refuses
// DisableExtendedConnect, which it cannot honour while the switch is on;
// molt's engine advertises it per server whatever GODEBUG says. A child
// run with GODEBUG=http2xconnect=0 checks that the environment's word
// stands: the x/net engine then advertises nothing.
func TestSwitch(t *testing.T) {
	child := os.Getenv("MOLT_XCONNECT_CHILD") == "1"
	if !child {
		if g := os.Getenv("GODEBUG"); !strings.Contains(g, xconnect.Setting) || !xconnect.Enabled {
			t.Fatalf("GODEBUG %q, Enabled %v: want %s added", g, xconnect.Enabled, xconnect.Setting)
		}
	} else if xconnect.Enabled {
		t.Fatal("Enabled despite GODEBUG=http2xconnect=0")
	}
	if got := advertised(t, h2ctest.XNet); got != !child {
		t.Errorf("x/net engine advertises extended CONNECT: %v, want %v", got, !child)
	}
	_, err := server.New(server.Config{Engine: server.NewXNetEngine, HTTP2: server.HTTP2Config{DisableExtendedConnect: true}})
	if child && err != nil {
		t.Errorf("x/net engine with the switch off refused DisableExtendedConnect: %v", err)
	}
	if !child && (err == nil || !strings.Contains(err.Error(), "DisableExtendedConnect")) {
		t.Errorf("x/net engine with the switch on: New error %v, want DisableExtendedConnect refused", err)
	}
	if !advertised(t, h2ctest.H2) {
		t.Error("molt's engine does not advertise extended CONNECT")
	}
	if advertised(t, h2ctest.H2, disable) {
		t.Error("molt's engine advertises extended CONNECT despite DisableExtendedConnect")
	}
	if child {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSwitch$", "-test.v")
	cmd.Env = append(os.Environ(), "MOLT_XCONNECT_CHILD=1", "GODEBUG=http2xconnect=0")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSwitch") {
		t.Fatalf("child with GODEBUG=http2xconnect=0: %v\n%s", err, out)
	}
}
