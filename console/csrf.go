package console

import (
	"crypto/subtle"
	"net/http"
)

// maxFormBody bounds a console form's body.
const maxFormBody = 1 << 20

// checkCSRF refuses every request that is not GET or HEAD unless its form
// carries the session's CSRF token; the comparison takes constant time.
func (c *Console) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			c.errorPage(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
			return
		}
		ses := sessionOf(r)
		got := r.PostForm.Get("csrf")
		if ses == nil || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(ses.csrf())) != 1 {
			c.errorPage(w, r, http.StatusForbidden, "This form has expired or did not come from this console. Go back, reload the page and try again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}
