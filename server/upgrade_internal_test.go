package server

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// encodeSettings is the HTTP2-Settings value for settings, unpadded.
func encodeSettings(settings ...http2.Setting) string {
	b := make([]byte, 0, 6*len(settings))
	for _, s := range settings {
		b = binary.BigEndian.AppendUint16(b, uint16(s.ID))
		b = binary.BigEndian.AppendUint32(b, s.Val)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestCheckUpgrade runs every case against each engine's CheckSettings:
// the HTTP/1.1 side of the check is the core's, the settings the
// engine's, and where the engines differ a case says so in byEngine.
func TestCheckUpgrade(t *testing.T) {
	sixtyFive := make([]http2.Setting, 65)
	for i := range sixtyFive {
		sixtyFive[i] = http2.Setting{ID: http2.SettingHeaderTableSize, Val: 4096}
	}
	valid := encodeSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	tests := []struct {
		name   string
		proto  string
		method string
		header http.Header
		want   DeclineReason
		// byEngine overrides want for the engines it names.
		byEngine map[string]DeclineReason
	}{
		{"valid", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {valid}}, "", nil},
		{"tokens in any case, split over lines", "HTTP/1.1", "POST", http.Header{"Connection": {"keep-alive, http2-settings", "UPGRADE"}, "Http2-Settings": {valid}}, "", nil},
		{"padded base64url", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {base64.URLEncoding.EncodeToString([]byte{0, 3, 0, 0, 0, 100})}}, "", nil},
		{"empty settings", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {""}}, "", nil},
		{"unknown setting ignored", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {encodeSettings(http2.Setting{ID: 0xf0f0, Val: 1 << 31})}}, "", nil},
		{"OPTIONS", "HTTP/1.1", "OPTIONS", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {valid}}, "", nil},
		{"HTTP/1.0", "HTTP/1.0", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {valid}}, DeclineHTTP10, nil},
		{"CONNECT", "HTTP/1.1", "CONNECT", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {valid}}, DeclineMethod, nil},
		{"no Connection", "HTTP/1.1", "GET", http.Header{"Http2-Settings": {valid}}, DeclineConnection, nil},
		{"Connection without HTTP2-Settings", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade"}, "Http2-Settings": {valid}}, DeclineConnection, nil},
		{"Connection without Upgrade", "HTTP/1.1", "GET", http.Header{"Connection": {"HTTP2-Settings"}, "Http2-Settings": {valid}}, DeclineConnection, nil},
		{"no HTTP2-Settings", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}}, DeclineSettingsMissing, nil},
		{"two HTTP2-Settings", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {valid, valid}}, DeclineSettingsDuplicate, nil},
		{"standard base64 alphabet", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {"AAMAAABk+/8A"}}, DeclineSettingsEncoding, nil},
		{"comma-joined values", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {valid + "," + valid}}, DeclineSettingsEncoding, nil},
		{"not a whole setting", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {base64.RawURLEncoding.EncodeToString([]byte{0, 3, 0, 0, 0})}}, DeclineSettingsLength, nil},
		{"ENABLE_PUSH 2", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {encodeSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2})}}, DeclineSettingsValue, nil},
		{"ENABLE_CONNECT_PROTOCOL 2", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {encodeSettings(http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 2})}}, DeclineSettingsValue, nil},
		{"NO_RFC7540_PRIORITIES 2", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {encodeSettings(http2.Setting{ID: 0x9, Val: 2})}}, DeclineSettingsValue, nil},
		{"INITIAL_WINDOW_SIZE 2^31", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {encodeSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})}}, DeclineSettingsValue, nil},
		{"MAX_FRAME_SIZE 16383", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {encodeSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16383})}}, DeclineSettingsValue, nil},
		{"MAX_FRAME_SIZE 2^24", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {encodeSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 24})}}, DeclineSettingsValue, nil},
		{"MAX_FRAME_SIZE bounds legal", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {encodeSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16384}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1<<24 - 1})}}, "", nil},
		// molt's engine takes at most 64 settings at once; x/net sets no limit.
		{"65 settings", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {encodeSettings(sixtyFive...)}}, "", map[string]DeclineReason{"h2": DeclineSettingsValue}},
		{"64 settings", "HTTP/1.1", "GET", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {encodeSettings(sixtyFive[1:]...)}}, "", nil},
	}
	engines := map[string]func(Config) (Engine, error){"xnet": NewXNetEngine, "h2": NewH2Engine}
	for name, newEngine := range engines {
		e, err := newEngine(Config{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			want := tt.want
			if w, ok := tt.byEngine[name]; ok {
				want = w
			}
			t.Run(name+"/"+tt.name, func(t *testing.T) { testCheckUpgrade(t, e, tt.proto, tt.method, tt.header, want) })
		}
	}
}

func testCheckUpgrade(t *testing.T, e Engine, proto, method string, header http.Header, want DeclineReason) {
	r, err := http.NewRequest(method, "http://example.com/", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Proto = proto
	r.ProtoMajor, r.ProtoMinor, _ = http.ParseHTTPVersion(proto)
	r.Header = header
	settings, got := checkUpgrade(r, e.CheckSettings)
	if got != want {
		t.Fatalf("checkUpgrade = %q, want %q", got, want)
	}
	if got == "" && settings == nil && header.Get("Http2-Settings") != "" {
		t.Errorf("checkUpgrade returned no settings for a valid request")
	}
}

func TestRequestedUpgrade(t *testing.T) {
	tests := []struct {
		header []string
		want   string
	}{
		{[]string{"h2c"}, "h2c"},
		{[]string{"H2C"}, "h2c"},
		{[]string{"foo/1, h2c"}, "h2c"},
		{[]string{"foo/1", " h2c "}, "h2c"},
		{[]string{"websocket, h2c"}, "websocket"},
		{[]string{"h2c, websocket"}, "h2c"},
		{[]string{"WebSocket"}, "websocket"},
		{[]string{"h2"}, ""},
		{[]string{"h2c/1"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := requestedUpgrade(http.Header{"Upgrade": tt.header}); got != tt.want {
			t.Errorf("requestedUpgrade(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestRemoveHopByHop(t *testing.T) {
	h := http.Header{
		"Connection":        {"Upgrade, HTTP2-Settings, X-Private"},
		"Upgrade":           {"h2c"},
		"Http2-Settings":    {"AAMAAABk"},
		"Keep-Alive":        {"timeout=5"},
		"Proxy-Connection":  {"keep-alive"},
		"Transfer-Encoding": {"chunked"},
		"Te":                {"gzip"},
		"X-Private":         {"connection option"},
		"Accept":            {"*/*"},
	}
	removeHopByHop(h)
	if want := (http.Header{"Accept": {"*/*"}}); !reflect.DeepEqual(h, want) {
		t.Errorf("after removeHopByHop: %v, want %v", h, want)
	}
	h = http.Header{"Te": {"trailers"}}
	removeHopByHop(h)
	if h.Get("Te") != "trailers" {
		t.Errorf("TE: trailers was removed")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, size := range []uint32{100, 1 << 24} {
		if _, err := New(Config{HTTP2: HTTP2Config{MaxReadFrameSize: size}}); err == nil {
			t.Errorf("New with MaxReadFrameSize %d: no error", size)
		}
	}
	if _, err := New(Config{HTTP2: HTTP2Config{MaxUploadBufferPerConnection: 1000}}); err == nil {
		t.Errorf("New with a connection window below 65535: no error")
	}
	// A flow-control window cannot be unlimited: a negative one used to
	// become zero, the engine's default, silently.
	for _, h := range []HTTP2Config{{MaxUploadBufferPerConnection: -1}, {MaxUploadBufferPerStream: -1}} {
		if _, err := New(Config{HTTP2: h}); err == nil || !strings.Contains(err.Error(), "upload buffers") {
			t.Errorf("New with %+v: %v, want an error about the upload buffers", h, err)
		}
	}
	s, err := New(Config{IdleTimeout: -1, MaxUpgradeBodyBytes: -1, UpgradeBodyTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	if c.IdleTimeout != 0 || c.MaxUpgradeBodyBytes != 0 || c.UpgradeBodyTimeout != 0 || c.ReadHeaderTimeout != DefaultReadHeaderTimeout || c.HTTP2.MaxConcurrentStreams != DefaultMaxConcurrentStreams {
		t.Errorf("defaults not applied as documented: %+v", c)
	}
	s, err = New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Config().UpgradeBodyTimeout; got != DefaultUpgradeBodyTimeout {
		t.Errorf("UpgradeBodyTimeout default %v, want %v", got, DefaultUpgradeBodyTimeout)
	}
}

// TestAppendRequestRoundTrip parses requests, rebuilds them with
// appendRequest, as resumeHTTP1 does, and parses them again: net/http must
// see the same request.
func TestAppendRequestRoundTrip(t *testing.T) {
	tests := []string{
		"GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\nX-A: 1\r\nX-A: 2\r\n\r\n",
		"GET http://example.com/abs HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
		"POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
		"POST /d HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, X-Other\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 42\r\nX-Other: a\r\n\r\n",
		"POST /e HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n0\r\nX-Sum: 0\r\n\r\n",
	}
	parse := func(t *testing.T, raw string) (*http.Request, []byte) {
		t.Helper()
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("parsing %q: %v", raw, err)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatalf("reading the body of %q: %v", raw, err)
		}
		return r, body
	}
	for _, raw := range tests {
		want, wantBody := parse(t, raw)
		rebuilt := string(appendRequest(nil, want, wantBody))
		got, gotBody := parse(t, rebuilt)
		delete(want.Header, "Expect")
		for _, h := range []http.Header{want.Header, got.Header} {
			delete(h, "Content-Length") // a chunked body comes back with a length
		}
		if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Proto != want.Proto || got.Host != want.Host ||
			!reflect.DeepEqual(got.Header, want.Header) || string(gotBody) != string(wantBody) || !reflect.DeepEqual(got.Trailer, want.Trailer) {
			t.Errorf("%q\nrebuilt as %q\nparses as %s %s %s host %q header %v body %q trailer %v\nwant      %s %s %s host %q header %v body %q trailer %v",
				raw, rebuilt,
				got.Method, got.RequestURI, got.Proto, got.Host, got.Header, gotBody, got.Trailer,
				want.Method, want.RequestURI, want.Proto, want.Host, want.Header, wantBody, want.Trailer)
		}
	}
}
