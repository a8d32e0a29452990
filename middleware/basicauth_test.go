package middleware_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// baWhoAmI answers with the user BasicAuth authenticated.
var baWhoAmI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	user, ok := middleware.BasicAuthUserFrom(r.Context())
	if !ok {
		http.Error(w, "no user", http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "hello "+user)
})

func baBasic(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

func TestBasicAuth(t *testing.T) {
	const challenge = `Basic realm="Restricted", charset="UTF-8"`
	tests := []struct {
		name string
		auth []string // Authorization fields
		want string   // "" for 401
	}{
		{"good", []string{baBasic("alice:s3cret")}, "hello alice"},
		{"good, other user", []string{baBasic("bob:hunter2")}, "hello bob"},
		{"good, scheme in lower case", []string{"basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))}, "hello alice"},
		{"good, colon in the password", []string{baBasic("carol:a:b")}, "hello carol"},
		{"good, UTF-8", []string{baBasic("dörte:pässwort")}, "hello dörte"},
		{"missing", nil, ""},
		{"wrong password", []string{baBasic("alice:wrong")}, ""},
		{"password of another user", []string{baBasic("alice:hunter2")}, ""},
		{"unknown user", []string{baBasic("mallory:s3cret")}, ""},
		{"password prefix", []string{baBasic("alice:s3cre")}, ""},
		{"empty", []string{""}, ""},
		{"scheme only", []string{"Basic"}, ""},
		{"scheme and space", []string{"Basic "}, ""},
		{"other scheme", []string{"Bearer " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))}, ""},
		{"bad base64", []string{"Basic !!!not-base64!!!"}, ""},
		{"no colon", []string{baBasic("alices3cret")}, ""},
		{"empty user", []string{baBasic(":s3cret")}, ""},
		{"empty user and password", []string{baBasic(":")}, ""},
		{"control character in user", []string{baBasic("alice\x00:s3cret")}, ""},
		{"newline in password", []string{baBasic("alice:s3cret\n")}, ""},
		{"two fields, both good", []string{baBasic("alice:s3cret"), baBasic("alice:s3cret")}, ""},
		{"two fields, one good", []string{baBasic("mallory:x"), baBasic("alice:s3cret")}, ""},
	}
	h := middleware.BasicAuth(middleware.BasicAuthOptions{Users: map[string]string{
		"alice": "s3cret",
		"bob":   "hunter2",
		"carol": "a:b",
		"dörte": "pässwort",
	}})(baWhoAmI)
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		ts := h2ctest.NewServer(t, h)
		c := ts.Client(t, mode)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
				req.Header["Authorization"] = tt.auth
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := string(h2ctest.ReadBody(t, resp))
				if tt.want != "" {
					if resp.StatusCode != 200 || body != tt.want {
						t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, tt.want)
					}
					if got := resp.Header.Get("WWW-Authenticate"); got != "" {
						t.Errorf("WWW-Authenticate %q on success", got)
					}
					return
				}
				if resp.StatusCode != 401 || body != "Unauthorized\n" {
					t.Errorf("got %d %q, want 401", resp.StatusCode, body)
				}
				if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != challenge {
					t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
				}
			})
		}
	})
}

// TestBasicAuthValidate: Validate gets the credentials and the request,
// and a realm is quoted safely.
func TestBasicAuthValidate(t *testing.T) {
	h := middleware.BasicAuth(middleware.BasicAuthOptions{
		Realm: `Admin "area" \ private`,
		Validate: func(user, pass string, r *http.Request) bool {
			return user == "root" && pass == "toor" && r.Header.Get("X-Allowed") == "yes"
		},
	})(baWhoAmI)
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		ts := h2ctest.NewServer(t, h)
		c := ts.Client(t, mode)
		for _, tt := range []struct {
			auth, allowed string
			status        int
		}{
			{baBasic("root:toor"), "yes", 200},
			{baBasic("root:toor"), "no", 401},
			{baBasic("root:root"), "yes", 401},
		} {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
			req.Header.Set("Authorization", tt.auth)
			req.Header.Set("X-Allowed", tt.allowed)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := string(h2ctest.ReadBody(t, resp))
			if resp.StatusCode != tt.status {
				t.Errorf("X-Allowed %s: %d %q, want %d", tt.allowed, resp.StatusCode, body, tt.status)
			}
			if tt.status == 200 && body != "hello root" {
				t.Errorf("body %q, want hello root", body)
			}
			if want := `Basic realm="Admin \"area\" \\ private", charset="UTF-8"`; tt.status == 401 && resp.Header.Get("WWW-Authenticate") != want {
				t.Errorf("WWW-Authenticate %q, want %q", resp.Header.Get("WWW-Authenticate"), want)
			}
		}
	})
}

func TestBasicAuthUserWithout(t *testing.T) {
	if user, ok := middleware.BasicAuthUserFrom(httptest.NewRequest("GET", "/", nil).Context()); ok || user != "" {
		t.Errorf("BasicAuthUserFrom without BasicAuth = %q, %v", user, ok)
	}
}

func TestBasicAuthInvalidOptions(t *testing.T) {
	valid := func(string, string, *http.Request) bool { return true }
	tests := []struct {
		name string
		opts middleware.BasicAuthOptions
		want string
	}{
		{"neither", middleware.BasicAuthOptions{}, "middleware: BasicAuth: set exactly one of Validate and Users"},
		{"both", middleware.BasicAuthOptions{Validate: valid, Users: map[string]string{"a": "b"}}, "middleware: BasicAuth: set exactly one of Validate and Users"},
		{"empty user", middleware.BasicAuthOptions{Users: map[string]string{"": "b"}}, "middleware: BasicAuth: Users has an empty user name"},
		{"realm with CRLF", middleware.BasicAuthOptions{Validate: valid, Realm: "a\r\nSet-Cookie: x=y"}, "middleware: BasicAuth: Realm contains a control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != tt.want {
					t.Errorf("panic %v, want %q", p, tt.want)
				}
			}()
			middleware.BasicAuth(tt.opts)
		})
	}
}
