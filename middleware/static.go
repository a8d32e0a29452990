package middleware

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StaticOptions configures Static. The zero value serves the whole file
// system at "/", with "index.html" as the index of directories, no
// precompressed variants, no Cache-Control, no dotfiles, and passes what
// it does not serve to the next handler.
type StaticOptions struct {
	// Prefix is the URL path below which files are served, with the
	// prefix stripped: with "/assets/", a request for "/assets/app.js"
	// gets the file "app.js". Requests outside it go to the next handler.
	// It must start with a slash; a missing trailing slash is added.
	// Default "/".
	Prefix string

	// Index is the file served for a directory's URL (one ending in a
	// slash); a directory's URL without the slash is redirected to the
	// one with it when the directory has an index. A directory without
	// one is not found: Static never lists directories. Default
	// "index.html".
	Index string

	// Precompressed serves name.br, name.zst or name.gz in place of name
	// when that file exists beside it and the request's Accept-Encoding
	// accepts its encoding (Brotli, Zstandard, gzip), with
	// Content-Encoding and the Content-Type of name. The client's
	// q-values choose; on a tie Brotli beats Zstandard beats gzip. Every
	// file response then carries "Vary: Accept-Encoding". It is off by
	// default since each accepted encoding costs a lookup in the file
	// system per request.
	Precompressed bool

	// CacheControl, if set, is the Cache-Control field of every file
	// response, such as "public, max-age=31536000, immutable" for
	// fingerprinted assets. By default there is none and clients
	// revalidate with the ETag and Last-Modified.
	CacheControl string

	// NotFound, if set, answers requests below Prefix for which there is
	// no file, making Static a handler of its own (http.NotFoundHandler()
	// gives plain 404s). By default they go to the next handler.
	NotFound http.Handler

	// ServeDotfiles serves files and directories whose name starts with a
	// dot (".env", ".git/config"), which are not found by default.
	ServeDotfiles bool
}

// Static returns middleware that serves the files of fsys: a GET or HEAD
// request whose path (below Prefix) names a regular file gets that file;
// every other request goes to the next handler, so Static can sit in
// front of an application's routes, or serve a single-page application's
// assets in front of its index route.
//
// Files are served by http.ServeContent, with its handling of Range
// (single and multiple ranges, 416 for unsatisfiable ones), HEAD, and the
// conditional fields If-Match, If-None-Match, If-Modified-Since,
// If-Unmodified-Since and If-Range. The Content-Type comes from the file
// name's extension, or from sniffing the content. The ETag is built from
// the file's modification time and size, like nginx's; a file with no
// modification time (an embed.FS has none) gets a hash of its content,
// computed once per file on the assumption that such a file system does
// not change while it is served.
//
// The path never leaves fsys. A path below Prefix that holds a backslash
// or a NUL (however they were escaped in the URL) gets 400 Bad Request. A
// path that needs cleaning, with a ".." or "." element or an empty one,
// goes to the next handler without touching fsys: the router redirects it
// to the clean path (308; http.ServeMux answers 301), so that
// "/static/a/../b" is served as "/static/b" after the redirect.
//
// fsys decides what a name reaches: os.DirFS follows symbolic links,
// also those that lead out of its directory. StaticDir, or Static with
// the FS of an os.Root, keeps them inside.
//
// Upgrade requests (WebSocket handshakes, CONNECT) go to the next handler.
// Static panics if fsys is nil, Prefix does not start with a slash or
// Index is not a plain file name.
func Static(fsys fs.FS, opts StaticOptions) func(http.Handler) http.Handler {
	if fsys == nil {
		panic("middleware: Static: nil file system")
	}
	s := &static{fsys: fsys, prefix: opts.Prefix, index: opts.Index, precompressed: opts.Precompressed,
		notFoundHandler: opts.NotFound, dotfiles: opts.ServeDotfiles}
	if s.prefix == "" {
		s.prefix = "/"
	}
	if !strings.HasPrefix(s.prefix, "/") {
		panic(fmt.Sprintf("middleware: Static: Prefix %q does not start with a slash", opts.Prefix))
	}
	if !strings.HasSuffix(s.prefix, "/") {
		s.prefix += "/"
	}
	if s.index == "" {
		s.index = "index.html"
	}
	if strings.ContainsAny(s.index, `/\`) || !fs.ValidPath(s.index) || s.index == "." {
		panic(fmt.Sprintf("middleware: Static: Index %q is not a file name", opts.Index))
	}
	if opts.CacheControl != "" {
		s.cacheControl = []string{opts.CacheControl}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.serveHTTP(w, r, next)
		})
	}
}

// StaticDir is Static for the directory dir, opened with os.OpenRoot and
// served through the root's FS: unlike os.DirFS, a symbolic link that
// leads out of dir is not followed, and the file it names is not found
// (links that stay inside dir work). The directory is opened once, and
// stays open for as long as the program runs. StaticDir returns an error
// if dir cannot be opened, and panics on invalid options as Static does.
func StaticDir(dir string, opts StaticOptions) (func(http.Handler) http.Handler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("middleware: StaticDir: %w", err)
	}
	return Static(root.FS(), opts), nil
}

type static struct {
	fsys            fs.FS
	prefix, index   string
	precompressed   bool
	cacheControl    []string
	notFoundHandler http.Handler
	dotfiles        bool

	hashes sync.Map // name -> hashedETag, for files without a modification time
}

type hashedETag struct {
	size int64
	etag string
}

// staticEncodings are the precompressed variants, in the server's order of
// preference.
var staticEncodings = [...]struct{ coding, ext string }{
	{"br", ".br"},
	{"zstd", ".zst"},
	{"gzip", ".gz"},
}

var staticVary = []string{"Accept-Encoding"}

func (s *static) notFound(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if s.notFoundHandler != nil {
		s.notFoundHandler.ServeHTTP(w, r)
		return
	}
	next.ServeHTTP(w, r)
}

func (s *static) serveHTTP(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || IsUpgrade(r) || !strings.HasPrefix(r.URL.Path, s.prefix) {
		next.ServeHTTP(w, r)
		return
	}
	rest := r.URL.Path[len(s.prefix):]
	isDir := rest == "" || strings.HasSuffix(rest, "/")
	name := strings.TrimSuffix(rest, "/")
	if name == "" {
		name = "."
	}
	if strings.ContainsAny(name, "\\\x00") {
		http.Error(w, "400 bad request: invalid path", http.StatusBadRequest)
		return
	}
	if !fs.ValidPath(name) || name == "." && rest != "" {
		// An empty, "." or ".." element: the path needs cleaning, which
		// is the router's to do (molt's router and http.ServeMux redirect
		// to the clean path). Static serves clean paths only.
		next.ServeHTTP(w, r)
		return
	}
	if !s.dotfiles && name != "." && staticHasDotElem(name) {
		s.notFound(w, r, next)
		return
	}
	f, fi, err := s.open(name)
	if err != nil {
		s.fail(w, r, next, err)
		return
	}
	if fi.IsDir() {
		f.Close()
		index := path.Join(name, s.index)
		f, fi, err = s.open(index)
		if err != nil || !fi.Mode().IsRegular() {
			if err == nil {
				f.Close()
				err = fs.ErrNotExist
			}
			s.fail(w, r, next, err)
			return
		}
		if !isDir {
			f.Close()
			// Relative, so it holds behind StripPrefix or a Mount, and
			// escaped, so that a '#', '?', '%' or space in the name
			// stays in the path.
			staticRedirect(w, r, "./"+url.PathEscape(path.Base(name))+"/")
			return
		}
		name = index
	} else if isDir || !fi.Mode().IsRegular() {
		f.Close()
		s.notFound(w, r, next)
		return
	}
	s.serveFile(w, r, name, f, fi)
}

// fail answers a request whose file could not be opened: not found, or
// 500 for an error other than a missing or forbidden file.
func (s *static) fail(w http.ResponseWriter, r *http.Request, next http.Handler, err error) {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrInvalid) || staticEscapes(err) {
		s.notFound(w, r, next)
		return
	}
	http.Error(w, "500 internal server error", http.StatusInternalServerError)
}

// staticEscapes reports whether err is an os.Root's refusal to follow a
// symbolic link out of the root, which is to Static a file that is not
// there. The os package does not export that error; its text is checked
// by TestStaticDirSymlinks.
func staticEscapes(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent"
}

func (s *static) open(name string) (fs.File, fs.FileInfo, error) {
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

func staticRedirect(w http.ResponseWriter, r *http.Request, to string) {
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusMovedPermanently)
}

// staticHasDotElem reports whether a slash-separated element of name starts
// with a dot.
func staticHasDotElem(name string) bool {
	return strings.HasPrefix(name, ".") || strings.Contains(name, "/.")
}

// serveFile serves the regular file f, named name, or its precompressed
// variant.
func (s *static) serveFile(w http.ResponseWriter, r *http.Request, name string, f fs.File, fi fs.FileInfo) {
	h := w.Header()
	if s.cacheControl != nil {
		h["Cache-Control"] = s.cacheControl
	}
	if s.precompressed {
		h["Vary"] = append(h["Vary"], staticVary...)
		if coding, cf, cfi := s.variant(r, name); cf != nil {
			ctype, err := staticContentType(name, f)
			f.Close()
			if err != nil {
				cf.Close()
				http.Error(w, "500 internal server error", http.StatusInternalServerError)
				return
			}
			f, fi = cf, cfi
			name += staticEncodingExt(coding)
			h.Set("Content-Type", ctype)
			h.Set("Content-Encoding", coding)
			// ServeContent leaves Content-Length out when Content-Encoding
			// is set, as if the writer compressed on the fly; here the
			// size is known. It replaces it for ranges, drops it for 304.
			h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
			w = staticVariantWriter{w}
		}
	}
	defer f.Close()
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(f)
		if err != nil {
			http.Error(w, "500 internal server error", http.StatusInternalServerError)
			return
		}
		rs = bytes.NewReader(b)
	}
	if _, ok := h["Etag"]; !ok {
		etag, err := s.etag(name, fi, rs)
		if err != nil {
			http.Error(w, "500 internal server error", http.StatusInternalServerError)
			return
		}
		h["Etag"] = []string{etag}
	}
	http.ServeContent(w, r, path.Base(name), fi.ModTime(), rs)
}

// staticVariantWriter is the writer ServeContent gets for a precompressed
// variant. ServeContent answers a failed If-Match or If-Unmodified-Since
// with a bare 412, which must not keep the Content-Length and
// Content-Encoding that Static set for the variant's body.
type staticVariantWriter struct{ http.ResponseWriter }

var (
	_ io.ReaderFrom                             = staticVariantWriter{}
	_ interface{ Unwrap() http.ResponseWriter } = staticVariantWriter{}
)

func (w staticVariantWriter) WriteHeader(code int) {
	if code == http.StatusPreconditionFailed {
		h := w.Header()
		delete(h, "Content-Length")
		delete(h, "Content-Encoding")
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w staticVariantWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom copies r to the body through the wrapped writer's ReadFrom,
// when it has one.
func (w staticVariantWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, r)
}

func staticEncodingExt(coding string) string {
	for _, e := range staticEncodings {
		if e.coding == coding {
			return e.ext
		}
	}
	return ""
}

// variant opens the precompressed variant of name that r accepts best,
// if there is one.
func (s *static) variant(r *http.Request, name string) (string, fs.File, fs.FileInfo) {
	ae := r.Header["Accept-Encoding"]
	if len(ae) == 0 {
		return "", nil, nil
	}
	var names [len(staticEncodings)]string
	for i, e := range staticEncodings {
		names[i] = e.coding
	}
	var q [len(staticEncodings)]int
	codingWeights(ae, names[:], q[:])
	for {
		best := -1
		for i := range q {
			if q[i] > 0 && (best < 0 || q[i] > q[best]) {
				best = i
			}
		}
		if best < 0 {
			return "", nil, nil
		}
		q[best] = 0
		f, fi, err := s.open(name + staticEncodings[best].ext)
		if err != nil {
			continue
		}
		if !fi.Mode().IsRegular() {
			f.Close()
			continue
		}
		return staticEncodings[best].coding, f, fi
	}
}

// contentType returns the media type of the file f named name: by its
// extension, or else by sniffing its first 512 bytes.
func staticContentType(name string, f fs.File) (string, error) {
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		return ct, nil
	}
	var buf [512]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return "", err
	}
	return http.DetectContentType(buf[:n]), nil
}

// etag returns a strong entity tag for the file: its modification time
// and size in hex, or a content hash when it has no modification time.
func (s *static) etag(name string, fi fs.FileInfo, rs io.ReadSeeker) (string, error) {
	if mt := fi.ModTime(); !mt.IsZero() && !mt.Equal(time.Unix(0, 0)) {
		return `"` + strconv.FormatInt(mt.UnixNano(), 16) + "-" + strconv.FormatInt(fi.Size(), 16) + `"`, nil
	}
	if v, ok := s.hashes.Load(name); ok {
		if he := v.(hashedETag); he.size == fi.Size() {
			return he.etag, nil
		}
	}
	hash := sha256.New()
	if _, err := io.Copy(hash, rs); err != nil {
		return "", err
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	etag := `"` + base64.RawURLEncoding.EncodeToString(hash.Sum(nil)[:18]) + `"`
	s.hashes.Store(name, hashedETag{fi.Size(), etag})
	return etag, nil
}
