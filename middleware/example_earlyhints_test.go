package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"

	"github.com/molt-http/molt/middleware"
)

func ExampleEarlyHints() {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ... render the page, which takes a while ...
		fmt.Fprint(w, `<link rel="stylesheet" href="/app.css"><script src="/app.js"></script>`)
	})
	hints := middleware.EarlyHints(middleware.EarlyHintsOptions{
		Links: []string{"</app.css>; rel=preload; as=style", "</app.js>; rel=preload; as=script"},
	})
	ts := httptest.NewServer(hints(page))
	defer ts.Close()

	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		fmt.Println(code, h["Link"])
		return nil
	}}
	req, _ := http.NewRequest("GET", ts.URL, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, len(body))
	// Output:
	// 103 [</app.css>; rel=preload; as=style </app.js>; rel=preload; as=script]
	// 200 70
}
