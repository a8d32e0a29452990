package routing

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/julienschmidt/httprouter"
	"github.com/labstack/echo/v4"
)

// A Recorder, given to Router.Load, is called by the handler of route i
// (the index in the routes given to Load) with the router's own way to read
// that request's parameters.
type Recorder func(route int, param func(name string) string)

// A Router is one of the routers under comparison.
type Router struct {
	Name string
	// Load registers every route and returns the router. With rec nil,
	// every route gets the same handler, which does nothing (it reads no
	// parameter either), as in julienschmidt/go-http-routing-benchmark.
	// With rec non-nil, route i's handler calls rec(i, ...) (for the
	// verification test).
	Load func(routes []Route, rec Recorder) http.Handler
}

// Routers are the routers under comparison, in the order they run. molt's
// is appended by molt.go.
var Routers = []Router{
	{"gin", loadGin},
	{"echo", loadEcho},
	{"httprouter", loadHTTPRouter},
	{"chi", loadChi},
	{"servemux", loadServeMux},
}

// LoadRouter is r.Load, with a registration panic turned into an error.
func LoadRouter(r Router, routes []Route, rec Recorder) (h http.Handler, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: registering the routes panicked: %v", r.Name, p)
		}
	}()
	return r.Load(routes, rec), nil
}

// gin, in release mode (no debug printing), without middleware (gin.New,
// not gin.Default).

func ginNoop(*gin.Context) {}

func loadGin(routes []Route, rec Recorder) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	for i, rt := range routes {
		h := ginNoop
		if rec != nil {
			h = func(c *gin.Context) { rec(i, c.Param) }
		}
		e.Handle(rt.Method, rt.Path, h)
	}
	return e
}

// echo v4, echo.New without middleware.

func echoNoop(echo.Context) error { return nil }

func loadEcho(routes []Route, rec Recorder) http.Handler {
	e := echo.New()
	for i, rt := range routes {
		h := echoNoop
		if rec != nil {
			h = func(c echo.Context) error { rec(i, c.Param); return nil }
		}
		e.Add(rt.Method, rt.Path, h)
	}
	return e
}

// httprouter.

func httpRouterNoop(http.ResponseWriter, *http.Request, httprouter.Params) {}

func loadHTTPRouter(routes []Route, rec Recorder) http.Handler {
	r := httprouter.New()
	for i, rt := range routes {
		h := httpRouterNoop
		if rec != nil {
			h = func(_ http.ResponseWriter, _ *http.Request, ps httprouter.Params) { rec(i, ps.ByName) }
		}
		r.Handle(rt.Method, rt.Path, h)
	}
	return r
}

// chi v5, {name} parameters.

func httpNoop(http.ResponseWriter, *http.Request) {}

func loadChi(routes []Route, rec Recorder) http.Handler {
	r := chi.NewRouter()
	for i, rt := range routes {
		h := httpNoop
		if rec != nil {
			h = func(_ http.ResponseWriter, r *http.Request) {
				rec(i, func(name string) string { return chi.URLParam(r, name) })
			}
		}
		r.MethodFunc(rt.Method, rt.BracePath(), h)
	}
	return r
}

// net/http.ServeMux, "METHOD /a/{b}" patterns.

func loadServeMux(routes []Route, rec Recorder) http.Handler {
	mux := http.NewServeMux()
	for i, rt := range routes {
		h := httpNoop
		if rec != nil {
			h = func(_ http.ResponseWriter, r *http.Request) { rec(i, r.PathValue) }
		}
		mux.HandleFunc(rt.MuxPattern(), h)
	}
	return mux
}
