package middleware

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-contrib/gzip"
	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/router"
)

// Body returns n bytes of JSON: an array of user-like records, as
// compressible as typical API output.
func Body(n int) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; b.Len() < n-80; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"user-%d","email":"user%d@example.com","active":%t,"score":%d}`,
			i, i, i*7919%10007, i%3 == 0, i*31%1000)
	}
	b.WriteString("]")
	s := b.String()
	s += strings.Repeat(" ", n-len(s)) // exactly n bytes
	return []byte(s)
}

// A Stack is one framework's router with the typical middleware stack and
// one route, GET /data, that answers body as application/json.
type Stack struct {
	Name string
	New  func(body []byte) http.Handler
}

// Stacks lists the stacks compared, molt's first.
var Stacks = []Stack{
	{"molt", moltStack},
	{"chi", chiStack},
	{"echo", echoStack},
}

func jsonHandler(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

// molt: Recoverer, RequestID, Logger on slog to io.Discard, Compress.
func moltStack(body []byte) http.Handler {
	r := router.New()
	r.Use(
		middleware.Recoverer(middleware.RecovererOptions{}),
		middleware.RequestID(middleware.RequestIDOptions{}),
		middleware.Logger(middleware.LoggerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		middleware.Compress(middleware.CompressOptions{}),
	)
	r.Get("/data", jsonHandler(body))
	return r
}

// chi: Recoverer, RequestID, RequestLogger (its default formatter) to
// io.Discard, Compress at level 5.
func chiStack(body []byte) http.Handler {
	r := chi.NewRouter()
	r.Use(
		chimw.Recoverer,
		chimw.RequestID,
		chimw.RequestLogger(&chimw.DefaultLogFormatter{Logger: log.New(io.Discard, "", log.LstdFlags), NoColor: true}),
		chimw.Compress(5),
	)
	r.Get("/data", jsonHandler(body))
	return r
}

// echo: Recover, RequestID, Logger to io.Discard, Gzip (its default level).
func echoStack(body []byte) http.Handler {
	e := echo.New()
	e.Use(
		echomw.Recover(),
		echomw.RequestID(),
		echomw.LoggerWithConfig(echomw.LoggerConfig{Output: io.Discard}),
		echomw.Gzip(),
	)
	e.GET("/data", echo.WrapHandler(jsonHandler(body)))
	return e
}

// A Compressor is one framework's compression middleware alone, around a
// handler that answers body as application/json.
type Compressor struct {
	Name     string
	Encoding string // what the request accepts
	New      func(body []byte) http.Handler
}

// Compressors lists the compression middleware compared.
var Compressors = []Compressor{
	{"molt-gzip", "gzip", moltCompress},
	{"molt-zstd", "zstd", moltCompress},
	{"molt-br", "br", moltCompress},
	{"chi-gzip", "gzip", func(body []byte) http.Handler { return chimw.Compress(5)(jsonHandler(body)) }},
	{"gin-gzip", "gzip", ginGzip},
}

func moltCompress(body []byte) http.Handler {
	return middleware.Compress(middleware.CompressOptions{})(jsonHandler(body))
}

func ginGzip(body []byte) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.Use(gzip.Gzip(gzip.DefaultCompression))
	g.GET("/data", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", body) })
	return g
}
