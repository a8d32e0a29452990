package h2client

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2/hpack"
)

// hopByHop lists request headers (lowercase) that are never forwarded: they
// are connection-specific or set by the client itself. "te" is handled
// separately, and "trailer" is derived from req.Trailer.
var hopByHop = map[string]bool{
	"connection":        true,
	"keep-alive":        true,
	"proxy-connection":  true,
	"transfer-encoding": true,
	"upgrade":           true,
	"http2-settings":    true,
	"host":              true,
	"content-length":    true,
	"trailer":           true,
}

// requestFields validates req and returns the header list for its HEADERS
// frame together with the list's size as defined for
// SETTINGS_MAX_HEADER_LIST_SIZE.
func requestFields(req *http.Request) ([]hpack.HeaderField, uint64, error) {
	host, method, path, err := requestLine(req)
	if err != nil {
		return nil, 0, err
	}
	scheme := "http"
	if req.URL.Scheme != "" {
		scheme = req.URL.Scheme
	}
	fields := []hpack.HeaderField{
		{Name: ":authority", Value: host},
		{Name: ":method", Value: method},
		{Name: ":path", Value: path},
		{Name: ":scheme", Value: scheme},
	}
	for _, k := range sortedKeys(req.Header) {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, 0, fmt.Errorf("h2client: invalid header field name %q", k)
		}
		name := strings.ToLower(k)
		if hopByHop[name] {
			continue
		}
		for _, v := range req.Header[k] {
			if err := validFieldValue(k, v); err != nil {
				return nil, 0, err
			}
			if name == "te" && !strings.EqualFold(v, "trailers") {
				continue
			}
			fields = append(fields, hpack.HeaderField{Name: name, Value: v})
		}
	}
	if keys := sortedKeys(req.Trailer); len(keys) > 0 {
		for _, k := range keys {
			if err := validTrailerName(k); err != nil {
				return nil, 0, err
			}
		}
		fields = append(fields, hpack.HeaderField{Name: "trailer", Value: strings.Join(keys, ",")})
	}
	if n := outgoingLength(req); n > 0 {
		fields = append(fields, hpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(n, 10)})
	}
	var size uint64
	for _, f := range fields {
		size += uint64(f.Size())
	}
	return fields, size, nil
}

// requestLine validates and returns req's authority, method and request
// target.
func requestLine(req *http.Request) (host, method, path string, err error) {
	if req.URL == nil {
		return "", "", "", errors.New("h2client: request has no URL")
	}
	host = req.Host
	if host == "" {
		host = req.URL.Host
	}
	if host == "" || !httpguts.ValidHostHeader(host) {
		return "", "", "", fmt.Errorf("h2client: invalid or missing host %q", host)
	}
	method = req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !httpguts.ValidHeaderFieldName(method) { // a method is a token, like a field name
		return "", "", "", fmt.Errorf("h2client: invalid method %q", method)
	}
	path = req.URL.RequestURI()
	if method == http.MethodOptions && (req.URL.Opaque == "*" || req.URL.Path == "*") {
		path = "*"
	}
	if strings.ContainsAny(path, " \r\n") {
		return "", "", "", fmt.Errorf("h2client: invalid request target %q", path)
	}
	return host, method, path, nil
}

func validFieldValue(name, v string) error {
	if !httpguts.ValidHeaderFieldValue(v) {
		return fmt.Errorf("h2client: invalid value for header field %q", name)
	}
	return nil
}

func validTrailerName(k string) error {
	if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidTrailerHeader(k) {
		return fmt.Errorf("h2client: invalid trailer %q", k)
	}
	return nil
}

func sortedKeys(h http.Header) []string {
	return slices.Sorted(maps.Keys(h))
}
