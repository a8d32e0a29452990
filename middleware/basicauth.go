package middleware

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// BasicAuthOptions configures BasicAuth. Exactly one of Validate and
// Users must be set.
type BasicAuthOptions struct {
	// Realm names the protected space in the challenge sent with 401.
	// Default "Restricted". It must not contain control characters.
	Realm string

	// Validate reports whether user and password are good, for the
	// request r. It should compare in constant time
	// (crypto/subtle.ConstantTimeCompare on hashes of equal length), or
	// use a password hash such as bcrypt, which does.
	Validate func(user, password string, r *http.Request) bool

	// Users maps user names to passwords, for a handful of accounts:
	// every request is compared with each of them, in constant time.
	// BasicAuth keeps a copy (of hashes, not the passwords).
	Users map[string]string
}

// BasicAuth requires HTTP Basic authentication (RFC 7617). A request with
// valid credentials goes on, and the handler reads the user name with
// BasicAuthUserFrom. Any other request is answered 401 Unauthorized with the
// challenge
//
//	WWW-Authenticate: Basic realm="Restricted", charset="UTF-8"
//
// the realm quoted, with '"' and '\' escaped. Missing credentials, another
// scheme, bad base64, no colon between user and password, an empty user
// name, control characters in either, and more than one Authorization
// field all count as invalid; the handler does not run.
//
// The user name and password are compared as hashes with
// crypto/subtle.ConstantTimeCompare, against every entry of Users, so
// the time taken tells neither which user exists nor how much of a
// password was right. Basic authentication sends the password in clear:
// use it behind TLS, or on a trusted network.
//
// BasicAuth panics if Validate and Users are both set or both unset, a
// user name in Users is empty, or Realm contains a control character.
func BasicAuth(o BasicAuthOptions) func(http.Handler) http.Handler {
	if (o.Validate == nil) == (o.Users == nil) {
		panic("middleware: BasicAuth: set exactly one of Validate and Users")
	}
	if o.Realm == "" {
		o.Realm = "Restricted"
	}
	if basicAuthCTL(o.Realm) {
		panic("middleware: BasicAuth: Realm contains a control character")
	}
	valid := o.Validate
	if o.Users != nil {
		users := make([]basicAuthAccount, 0, len(o.Users))
		for name, pass := range o.Users {
			if name == "" {
				panic("middleware: BasicAuth: Users has an empty user name")
			}
			users = append(users, basicAuthAccount{sha256.Sum256([]byte(name)), sha256.Sum256([]byte(pass))})
		}
		valid = func(name, pass string, _ *http.Request) bool {
			nh, ph := sha256.Sum256([]byte(name)), sha256.Sum256([]byte(pass))
			found := 0
			for _, u := range users {
				found |= subtle.ConstantTimeCompare(nh[:], u.name[:]) & subtle.ConstantTimeCompare(ph[:], u.pass[:])
			}
			return found == 1
		}
	}
	challenge := `Basic realm="` + basicAuthQuote(o.Realm) + `", charset="UTF-8"`
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user, pass, ok := basicCredentials(r)
			if !ok || !valid(user, pass, r) {
				w.Header().Set("WWW-Authenticate", challenge)
				http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
				return
			}
			r, info := withInfo(r)
			info.user = user
			next.ServeHTTP(w, r)
		})
	}
}

// BasicAuthUserFrom returns the user name that BasicAuth authenticated
// for the request of ctx, and false if BasicAuth did not run.
func BasicAuthUserFrom(ctx context.Context) (string, bool) {
	if info := infoFrom(ctx); info != nil && info.user != "" {
		return info.user, true
	}
	return "", false
}

// BasicAuthUser returns BasicAuthUserFrom(ctx).
//
// Deprecated: use BasicAuthUserFrom, named like the other accessors.
func BasicAuthUser(ctx context.Context) (string, bool) { return BasicAuthUserFrom(ctx) }

type basicAuthAccount struct{ name, pass [sha256.Size]byte }

// basicCredentials returns the user name and password of r's one
// Authorization field, if it is well-formed Basic credentials.
func basicCredentials(r *http.Request) (user, pass string, ok bool) {
	if len(r.Header["Authorization"]) != 1 {
		return "", "", false
	}
	user, pass, ok = r.BasicAuth()
	if !ok || user == "" || basicAuthCTL(user) || basicAuthCTL(pass) {
		return "", "", false
	}
	return user, pass, true
}

// basicAuthCTL reports whether s contains an ASCII control character.
func basicAuthCTL(s string) bool {
	return strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f })
}

// basicAuthQuote escapes s for the inside of a quoted-string (RFC 9110
// section 5.6.4).
func basicAuthQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
