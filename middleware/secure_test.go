package middleware_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// secureDefaults are the headers of the zero SecureOptions on a cleartext
// request.
var secureDefaults = map[string]string{
	"X-Content-Type-Options":     "nosniff",
	"X-Frame-Options":            "DENY",
	"Referrer-Policy":            "strict-origin-when-cross-origin",
	"Cross-Origin-Opener-Policy": "same-origin",
}

// secureFields are every header Secure may set.
var secureFields = []string{
	"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
	"Cross-Origin-Opener-Policy", "Content-Security-Policy", "Content-Security-Policy-Report-Only",
}

// withFields returns secureDefaults changed by kv: key, value pairs, a
// value of "" removing the key.
func withFields(kv ...string) map[string]string {
	m := make(map[string]string)
	for k, v := range secureDefaults {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

// checkSecureHeader reports the fields of h that differ from want, among
// secureFields.
func checkSecureHeader(t *testing.T, name string, h http.Header, want map[string]string) {
	t.Helper()
	for _, f := range secureFields {
		got := h.Values(f)
		if w, ok := want[f]; !ok && len(got) != 0 {
			t.Errorf("%s: %s %q, want none", name, f, got)
		} else if ok && !slices.Equal(got, []string{w}) {
			t.Errorf("%s: %s %q, want %q", name, f, got, w)
		}
	}
}

func TestSecure(t *testing.T) {
	const csp = "default-src 'self'; frame-ancestors 'none'"
	tests := []struct {
		name  string
		opts  middleware.SecureOptions
		https bool
		want  map[string]string
	}{
		{"defaults, cleartext", middleware.SecureOptions{}, false, secureDefaults},
		{"defaults, TLS", middleware.SecureOptions{}, true, withFields("Strict-Transport-Security", "max-age=31536000")},
		{"HSTS off", middleware.SecureOptions{HSTSMaxAge: -1}, true, secureDefaults},
		{"HSTS max-age", middleware.SecureOptions{HSTSMaxAge: 90*time.Second + 500*time.Millisecond}, true, withFields("Strict-Transport-Security", "max-age=90")},
		{"HSTS subdomains", middleware.SecureOptions{HSTSIncludeSubdomains: true}, true, withFields("Strict-Transport-Security", "max-age=31536000; includeSubDomains")},
		{"HSTS preload", middleware.SecureOptions{HSTSMaxAge: 2 * middleware.DefaultHSTSMaxAge, HSTSIncludeSubdomains: true, HSTSPreload: true}, true,
			withFields("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload")},
		{"HSTS preload, cleartext", middleware.SecureOptions{HSTSIncludeSubdomains: true, HSTSPreload: true}, false, secureDefaults},
		{"SAMEORIGIN", middleware.SecureOptions{FrameOptions: "SAMEORIGIN"}, false, withFields("X-Frame-Options", "SAMEORIGIN")},
		{"frame options off", middleware.SecureOptions{FrameOptions: middleware.SecureOff}, false, withFields("X-Frame-Options", "")},
		{"nosniff off", middleware.SecureOptions{ContentTypeOptions: middleware.SecureOff}, false, withFields("X-Content-Type-Options", "")},
		{"referrer no-referrer", middleware.SecureOptions{ReferrerPolicy: "no-referrer"}, false, withFields("Referrer-Policy", "no-referrer")},
		{"referrer fallback list", middleware.SecureOptions{ReferrerPolicy: "no-referrer, strict-origin-when-cross-origin"}, false,
			withFields("Referrer-Policy", "no-referrer, strict-origin-when-cross-origin")},
		{"referrer off", middleware.SecureOptions{ReferrerPolicy: middleware.SecureOff}, false, withFields("Referrer-Policy", "")},
		{"COOP popups", middleware.SecureOptions{CrossOriginOpenerPolicy: "same-origin-allow-popups"}, false, withFields("Cross-Origin-Opener-Policy", "same-origin-allow-popups")},
		{"COOP off", middleware.SecureOptions{CrossOriginOpenerPolicy: middleware.SecureOff}, false, withFields("Cross-Origin-Opener-Policy", "")},
		{"CSP", middleware.SecureOptions{ContentSecurityPolicy: csp}, false, withFields("Content-Security-Policy", csp)},
		{"CSP report only", middleware.SecureOptions{ContentSecurityPolicy: csp, CSPReportOnly: true}, false, withFields("Content-Security-Policy-Report-Only", csp)},
		{"CSP off", middleware.SecureOptions{ContentSecurityPolicy: middleware.SecureOff}, false, secureDefaults},
		{"all off", middleware.SecureOptions{HSTSMaxAge: -1, ContentTypeOptions: middleware.SecureOff, FrameOptions: middleware.SecureOff,
			ReferrerPolicy: middleware.SecureOff, CrossOriginOpenerPolicy: middleware.SecureOff}, true, map[string]string{}},
	}
	for _, tc := range tests {
		var seen http.Header
		h := middleware.Secure(tc.opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = w.Header().Clone() // set before the handler runs
		}))
		req := httptest.NewRequest("GET", "/", nil)
		if tc.https {
			req.TLS = &tls.ConnectionState{}
		} else {
			req.TLS = nil
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		checkSecureHeader(t, tc.name, seen, tc.want)
	}
}

// Over the wire, on every protocol: molt speaks cleartext, so never HSTS;
// the other headers on every response, a handler's own values winning
// over Secure's and Secure's over an outer layer's.
func TestSecureOverTheWire(t *testing.T) { h2ctest.Run(t, testSecureOverTheWire) }

func testSecureOverTheWire(t *testing.T, mode h2ctest.Mode) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/embed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "SAMEORIGIN")
		w.Header().Del("Cross-Origin-Opener-Policy")
	})
	mux.HandleFunc("/missing", http.NotFound)
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Referrer-Policy", "unsafe-url")
			w.Header().Set("Strict-Transport-Security", "max-age=1")
			next.ServeHTTP(w, r)
		})
	}
	ts := h2ctest.NewServer(t, middleware.Secure(middleware.SecureOptions{HSTSIncludeSubdomains: true})(mux))
	outerTS := h2ctest.NewServer(t, outer(middleware.Secure(middleware.SecureOptions{})(mux)))
	for _, tc := range []struct {
		name, url string
		status    int
		want      map[string]string
	}{
		{"plain", ts.URL + "/", 200, secureDefaults},
		{"handler overrides", ts.URL + "/embed", 200, withFields("X-Frame-Options", "SAMEORIGIN", "Cross-Origin-Opener-Policy", "")},
		{"error response", ts.URL + "/missing", 404, secureDefaults},
		// An outer layer's Strict-Transport-Security is no business of
		// Secure's: it is left as it is, and Referrer-Policy replaced.
		{"outer layer", outerTS.URL + "/", 200, withFields("Strict-Transport-Security", "max-age=1")},
	} {
		req, _ := http.NewRequest("GET", tc.url, nil)
		req.Header.Set("X-Forwarded-Proto", "https") // no trusted proxy: ignored
		req.Header.Set("Forwarded", "proto=https")
		resp, err := ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		h2ctest.ReadBody(t, resp)
		if resp.StatusCode != tc.status || resp.ProtoMajor != h2ctest.WantProto(mode) {
			t.Errorf("%s: %d over HTTP/%d, want %d over HTTP/%d", tc.name, resp.StatusCode, resp.ProtoMajor, tc.status, h2ctest.WantProto(mode))
		}
		checkSecureHeader(t, tc.name, resp.Header, tc.want)
	}
}

// On a TLS connection (net/http's own TLS server, HTTP/1.1 and HTTP/2 by
// ALPN), Strict-Transport-Security is sent.
func TestSecureTLS(t *testing.T) {
	ts := httptest.NewUnstartedServer(middleware.Secure(middleware.SecureOptions{HSTSMaxAge: 24 * time.Hour})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Proto) })))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	for _, h2 := range []bool{false, true} {
		tr := ts.Client().Transport.(*http.Transport).Clone()
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP1(!h2)
		tr.Protocols.SetHTTP2(h2)
		tr.TLSClientConfig.NextProtos = nil
		resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Get(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		body := string(h2ctest.ReadBody(t, resp))
		tr.CloseIdleConnections()
		name := "TLS " + body
		if h2 != strings.HasPrefix(body, "HTTP/2") {
			t.Errorf("%s: want HTTP/2 %v", name, h2)
		}
		checkSecureHeader(t, name, resp.Header, withFields("Strict-Transport-Security", "max-age=86400"))
	}
}

func TestSecureBadOptions(t *testing.T) {
	for _, o := range []middleware.SecureOptions{
		{HSTSMaxAge: time.Millisecond},
		{HSTSPreload: true},
		{HSTSPreload: true, HSTSIncludeSubdomains: true, HSTSMaxAge: 30 * 24 * time.Hour},
		{HSTSMaxAge: -1, HSTSIncludeSubdomains: true},
		{ContentTypeOptions: "sniff"},
		{FrameOptions: "ALLOW-FROM https://a.example"},
		{ReferrerPolicy: "never"},
		{ReferrerPolicy: "no-referrer,"},
		{CrossOriginOpenerPolicy: "same-origin, unsafe-none"},
		{CrossOriginOpenerPolicy: "same-site"},
		{ContentSecurityPolicy: "default-src 'self'\r\nX-Evil: 1"},
		{ContentSecurityPolicy: " "},
		{CSPReportOnly: true},
	} {
		func() {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.HasPrefix(msg, "middleware: Secure: ") {
					t.Errorf("%+v: panic %q, want one starting with %q", o, msg, "middleware: Secure: ")
				}
			}()
			middleware.Secure(o)
		}()
	}
}
