package routing

import (
	"net/http"

	"github.com/molt-http/molt/router"
)

func init() {
	Routers = append(Routers, Router{"molt", loadMolt})
}

// molt's router, ServeMux pattern syntax.
func loadMolt(routes []Route, rec Recorder) http.Handler {
	rt := router.New()
	for i, r := range routes {
		h := httpNoop
		if rec != nil {
			h = func(_ http.ResponseWriter, r *http.Request) { rec(i, r.PathValue) }
		}
		rt.Handle(r.MuxPattern(), http.HandlerFunc(h))
	}
	return rt
}
