package middleware

import (
	"context"
	"net/http"
	"net/netip"
)

// requestInfo is what molt's middleware learn about a request and keep in
// its context: one per request, whichever of them runs first puts it
// there, and the others fill it in without another r.WithContext copy.
type requestInfo struct {
	id       string     // the request ID (RequestID)
	clientIP netip.Addr // the client's address (ClientIP)
	user     string     // the authenticated user name (BasicAuth)
	scheme   string     // "https" or "http" as a trusted proxy said (ProxyHeaders), or ""

	// idField backs the value of RequestID's response header field, so
	// that setting it allocates nothing more.
	idField [1]string
}

type infoKey struct{}

// infoContext carries a requestInfo: the context node and the info are one
// allocation. Done, Err and Deadline are the parent's, so contexts derived
// from it are cancelled with it as directly as from the parent.
type infoContext struct {
	context.Context
	info requestInfo
}

func (c *infoContext) Value(key any) any {
	if key == (infoKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

// infoFrom returns the requestInfo in ctx, or nil.
func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// withInfo returns r's requestInfo, and r itself if it has one already,
// or else a shallow copy of r whose context carries a new one.
func withInfo(r *http.Request) (*http.Request, *requestInfo) {
	if info := infoFrom(r.Context()); info != nil {
		return r, info
	}
	ctx := &infoContext{Context: r.Context()}
	return r.WithContext(ctx), &ctx.info
}
