package router

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRedirectNeverNamesAHost calls redirect with paths that dispatch
// never passes it (they need cleaning), to check the last defence: a
// Location that would begin with "//" is a 400 instead.
func TestRedirectNeverNamesAHost(t *testing.T) {
	for _, tt := range []struct {
		p       string
		escaped bool
	}{{"//evil.com/", false}, {"//evil.com", true}, {"///x", false}} {
		w := httptest.NewRecorder()
		redirect(w, httptest.NewRequest("GET", "/", nil), tt.p, tt.escaped)
		if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
			t.Errorf("redirect to %q: %d to %q, want 400 without a Location", tt.p, w.Code, w.Header().Get("Location"))
		}
	}
}
