package console

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net/http"
)

// maxFormBody bounds a console form's body.
const maxFormBody = 1 << 20

// maxFormMemory is how much of a multipart form is kept in memory; the
// rest of a file goes to a temporary file, removed after the request.
const maxFormMemory = 8 << 20

// checkCSRF refuses every request that is not GET or HEAD unless its form
// (urlencoded, or multipart for an upload) carries the session's CSRF
// token; the comparison takes constant time. The body is bounded by limit.
func (c *Console) checkCSRF(next http.Handler, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		var err error
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
			err = r.ParseMultipartForm(maxFormMemory)
			if r.MultipartForm != nil {
				defer r.MultipartForm.RemoveAll()
			}
		} else {
			err = r.ParseForm()
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			c.errorPage(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is larger than %d MiB, the most this page takes.", limit>>20))
			return
		}
		if err != nil {
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
