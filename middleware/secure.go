package middleware

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// SecureOff, as the value of a SecureOptions header field, leaves that
// header out of the response.
const SecureOff = "off"

// DefaultHSTSMaxAge is the max-age of Secure's Strict-Transport-Security
// header when SecureOptions.HSTSMaxAge is zero: one year (365 days), the
// least the browsers' HSTS preload lists accept.
const DefaultHSTSMaxAge = 365 * 24 * time.Hour

// SecureOptions configures Secure. The zero value is the safe set: HSTS
// for a year on requests that came over HTTPS, nosniff, no framing, a
// strict referrer policy, and a same-origin opener policy. A string field
// left "" gets its default; SecureOff leaves its header out.
type SecureOptions struct {
	// HSTSMaxAge is the max-age of Strict-Transport-Security, sent only
	// on requests that came over HTTPS (see Secure). Default 0:
	// DefaultHSTSMaxAge. A negative value sends no
	// Strict-Transport-Security at all. Whole seconds count; a positive
	// value under one second is an error.
	HSTSMaxAge time.Duration

	// HSTSIncludeSubdomains adds includeSubDomains: the policy then
	// binds every subdomain of the host as well, even those this server
	// does not serve, which is why it is not on by default. Default false.
	HSTSIncludeSubdomains bool

	// HSTSPreload adds preload, asking to be put on the browsers' preload
	// lists; it needs HSTSIncludeSubdomains and a max-age of at least a
	// year. Default false.
	HSTSPreload bool

	// ContentTypeOptions is X-Content-Type-Options. Default "nosniff",
	// its only value: browsers then do not guess a content type other
	// than the one the response declares.
	ContentTypeOptions string

	// FrameOptions is X-Frame-Options: "DENY" or "SAMEORIGIN". Default
	// "DENY": no page may frame the response, against clickjacking.
	// Browsers that see a frame-ancestors directive in
	// ContentSecurityPolicy follow it instead.
	FrameOptions string

	// ReferrerPolicy is Referrer-Policy: one policy token, or a comma
	// separated list of them, the last one the browser knows winning.
	// Default "strict-origin-when-cross-origin": full URLs stay on the
	// site, other sites see only the origin, and nothing goes from HTTPS
	// to HTTP. (The stricter "no-referrer" also makes browsers send
	// "Origin: null" on same-site form posts, which CrossOrigin cannot
	// tell from a cross-site one where Sec-Fetch-Site is missing.)
	ReferrerPolicy string

	// ContentSecurityPolicy is Content-Security-Policy, sent exactly as
	// given. Default "": none, since no policy fits every site.
	ContentSecurityPolicy string

	// CSPReportOnly sends ContentSecurityPolicy as
	// Content-Security-Policy-Report-Only instead: browsers report
	// violations and block nothing. Default false.
	CSPReportOnly bool

	// CrossOriginOpenerPolicy is Cross-Origin-Opener-Policy:
	// "same-origin", "same-origin-allow-popups", "noopener-allow-popups"
	// or "unsafe-none". Default "same-origin": a page of another site
	// that opens this one, or that this one opens, gets no handle on it.
	// Sign-in flows that talk to a popup of another site need
	// "same-origin-allow-popups".
	CrossOriginOpenerPolicy string
}

// Secure is a middleware that sets security headers on every response,
// like unrolled/secure and echo's Secure. With the zero SecureOptions the
// response gets
//
//	X-Content-Type-Options: nosniff
//	X-Frame-Options: DENY
//	Referrer-Policy: strict-origin-when-cross-origin
//	Cross-Origin-Opener-Policy: same-origin
//
// and, on a request that came over HTTPS,
//
//	Strict-Transport-Security: max-age=31536000
//
// Content-Security-Policy is sent only when configured. A request came
// over HTTPS when it came on a TLS connection (r.TLS is set: net/http's
// ServeTLS), or when ProxyHeaders, running before Secure, found that a
// trusted proxy received it over HTTPS: what SchemeFrom reports. A header
// such as X-Forwarded-Proto counts only that way, never by itself, so
// that a client cannot claim HTTPS. Secure never sends
// Strict-Transport-Security on any other request: a molt server speaks
// cleartext, and on cleartext the header would be a lie that a man in
// the middle could add or strip anyway (RFC 6797 section 7.2), so
// browsers ignore it there.
//
// The headers are set before the next handler runs, replacing any that an
// outer layer set (a Strict-Transport-Security that Secure does not send
// is left as the outer layer set it); the handler can still change or
// delete them. Secure works alike on every protocol. It panics if an
// option has a value its header does not allow, HSTSPreload is set
// without HSTSIncludeSubdomains or with a max-age under a year, or
// CSPReportOnly without a policy.
func Secure(o SecureOptions) func(http.Handler) http.Handler {
	c := newSecureConfig(o)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			n := len(c.values)
			if c.hsts != "" && SchemeFrom(r) == "https" {
				n++
			}
			v := make([]string, n) // one allocation for all the values
			copy(v, c.values)
			for i, k := range c.keys {
				h[k] = v[i : i+1 : i+1]
			}
			if n > len(c.values) {
				v[n-1] = c.hsts
				h["Strict-Transport-Security"] = v[n-1 : n : n]
			}
			next.ServeHTTP(w, r)
		})
	}
}

// secureConfig is SecureOptions resolved to header fields.
type secureConfig struct {
	keys   []string // canonical names, sent on every response
	values []string // their values
	hsts   string   // Strict-Transport-Security for HTTPS requests, or ""
}

func newSecureConfig(o SecureOptions) *secureConfig {
	c := &secureConfig{}
	add := func(key, value, def string, check func(string) bool) {
		switch value {
		case SecureOff:
			return
		case "":
			value = def
		}
		if !check(value) {
			panic(fmt.Sprintf("middleware: Secure: invalid %s %q", key, value))
		}
		c.keys = append(c.keys, key)
		c.values = append(c.values, value)
	}
	add("X-Content-Type-Options", o.ContentTypeOptions, "nosniff", func(v string) bool {
		return strings.EqualFold(v, "nosniff")
	})
	add("X-Frame-Options", o.FrameOptions, "DENY", func(v string) bool {
		return strings.EqualFold(v, "DENY") || strings.EqualFold(v, "SAMEORIGIN")
	})
	add("Referrer-Policy", o.ReferrerPolicy, "strict-origin-when-cross-origin", func(v string) bool {
		return tokensIn(v, "no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin",
			"same-origin", "strict-origin", "strict-origin-when-cross-origin", "unsafe-url")
	})
	add("Cross-Origin-Opener-Policy", o.CrossOriginOpenerPolicy, "same-origin", func(v string) bool {
		return tokensIn(v, "same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none") &&
			!strings.Contains(v, ",")
	})
	if csp := o.ContentSecurityPolicy; o.CSPReportOnly && (csp == "" || csp == SecureOff) {
		panic("middleware: Secure: CSPReportOnly without a ContentSecurityPolicy")
	}
	if csp := o.ContentSecurityPolicy; csp != "" && csp != SecureOff {
		key := "Content-Security-Policy"
		if o.CSPReportOnly {
			key = "Content-Security-Policy-Report-Only"
		}
		add(key, csp, "", func(v string) bool {
			return strings.TrimSpace(v) != "" && httpguts.ValidHeaderFieldValue(v) && !strings.ContainsAny(v, "\r\n")
		})
	}

	maxAge := o.HSTSMaxAge
	switch {
	case maxAge == 0:
		maxAge = DefaultHSTSMaxAge
	case maxAge > 0 && maxAge < time.Second:
		panic(fmt.Sprintf("middleware: Secure: HSTSMaxAge %v is under a second", maxAge))
	}
	if maxAge < 0 {
		if o.HSTSIncludeSubdomains || o.HSTSPreload {
			panic("middleware: Secure: HSTSIncludeSubdomains or HSTSPreload with HSTS turned off (negative HSTSMaxAge)")
		}
		return c
	}
	if o.HSTSPreload && (!o.HSTSIncludeSubdomains || maxAge < DefaultHSTSMaxAge) {
		panic("middleware: Secure: HSTSPreload needs HSTSIncludeSubdomains and an HSTSMaxAge of at least a year")
	}
	c.hsts = "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	if o.HSTSIncludeSubdomains {
		c.hsts += "; includeSubDomains"
	}
	if o.HSTSPreload {
		c.hsts += "; preload"
	}
	return c
}

// tokensIn reports whether v is a comma-separated list of one or more of
// the tokens allowed, in any case.
func tokensIn(v string, allowed ...string) bool {
	for e := range strings.SplitSeq(v, ",") {
		e = strings.Trim(e, " \t")
		ok := false
		for _, a := range allowed {
			if strings.EqualFold(e, a) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
