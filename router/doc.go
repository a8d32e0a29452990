// Package router is molt's router: a tree of path segments that is a plain
// http.Handler, with the pattern syntax of net/http.ServeMux (Go 1.22), so
// handlers read wildcards with r.PathValue and the matched pattern with
// r.Pattern, and handlers and middleware written for net/http work as
// they are.
//
//	r := router.New()
//	r.Use(logger)
//	r.Get("/users/{id}", showUser)
//	r.Route("/admin", func(r *router.Router) {
//		r.Use(requireAdmin)
//		r.Post("/users", createUser)
//	})
//	r.Mount("/assets", http.FileServerFS(assets))
//	http.ListenAndServe(":8080", r)
//
// Precedence is decided segment by segment, from the left: a static segment
// beats a {wildcard}, which beats {$}, which beats a final {name...} or
// trailing-slash subtree; when the more specific branch fails further down,
// matching backtracks to the next. So "/a/{x}" and "/{y}/b" can both be
// registered, and "/a/b" goes to the first. net/http.ServeMux refuses such
// pairs as conflicts; here only patterns with the same method and the same
// shape conflict, and registering the second one panics.
//
// The router answers what no route does: 404 through NotFound, 405 with a
// correct Allow header through MethodNotAllowed, OPTIONS with 204 and
// Allow, HEAD through the GET route, an RFC 8441 extended CONNECT (how a
// WebSocket arrives over HTTP/2) through the GET route of its path. A GET
// handler that knows nothing of tunnels would answer one 200, which tells
// the client that its tunnel is open: so a 2xx from a GET route to an
// extended CONNECT goes out as 501 Not Implemented unless the handler
// called AcceptExtendedConnect first (molt's websocket package does).
// Routes registered for CONNECT or for every method see the request as it
// came.
//
// It redirects (308, query kept) paths with "//", "/./" or "/../" to their
// clean form, and, as net/http.ServeMux does, "/x" to "/x/" when "/x/"
// would match exactly for the request's method (a trailing-slash subtree,
// {$} or {name...} taking nothing more) and "/x" matches nothing or only a
// subtree above it: with "GET /" and "GET /static/", "/static" is
// redirected, not served by "/"; with "POST /items" and "GET /items/",
// "GET /items" is redirected, not answered 405. It also redirects "/x/" to
// "/x" when only "/x" matches, which ServeMux does not. A Location is
// always the escaped path, so a path whose decoded form holds a backslash,
// '?', '#' or a space is redirected to itself on the same origin, never to
// another host. RedirectTrailingSlash(false) turns the trailing-slash
// redirects off.
//
// Matching allocates nothing; setting path values allocates once per
// request, the first time (net/http's own map).
package router
