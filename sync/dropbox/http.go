package dropbox

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rosterd/rosterd/internal/daemon"
)

// Mux is where routes are registered (daemon.Server, http.ServeMux).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers PUT /drop/{tenant}/{feed}.
func (b *Box) Mount(mux Mux) {
	mux.Handle("PUT /drop/{tenant}/{feed}", http.HandlerFunc(b.put))
}

// putResponse is what a stored upload answers.
type putResponse struct {
	Tenant string `json:"tenant"`
	Feed   string `json:"feed"`
	// File is the name the upload has in the inbox.
	File   string `json:"file"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Run says when the feed reads it: "queued" (run_on_upload) or
	// "next_schedule".
	Run string `json:"run"`
}

// put stores the request body as an upload of the feed. The one query
// parameter, name, is the file's name (default "upload"); the format is
// read from the content, not the name.
func (b *Box) put(w http.ResponseWriter, r *http.Request) {
	tenant, feedName := r.PathValue("tenant"), r.PathValue("feed")
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		b.uploads.WithLabelValues("https", resultRefused).Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="rosterd drop box"`)
		daemon.WriteError(w, http.StatusUnauthorized, "unauthenticated", "", "send the feed's upload token as Authorization: Bearer <token>")
		return
	}
	f, known := b.feed(tenant, feedName)
	valid := false
	if !known && b.opt.Keys != nil {
		// The same work as for a known feed: the time taken does not
		// tell which feeds exist.
		b.opt.Keys.Check(r.Context(), CredentialKind, strings.TrimSpace(secret))
	}
	if known {
		var err error
		if valid, err = b.checkToken(r.Context(), f, strings.TrimSpace(secret)); err != nil {
			b.log.Error("checking an upload token", "tenant", tenant, "feed", feedName, "err", err)
			daemon.WriteError(w, http.StatusInternalServerError, "internal", "", "the upload token could not be checked; try again")
			return
		}
	}
	if !valid {
		// An unknown feed answers as a wrong token does: the drop box does
		// not tell strangers which feeds exist.
		b.uploads.WithLabelValues("https", resultRefused).Inc()
		b.log.Warn("upload refused: invalid token", "tenant", tenant, "feed", feedName, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="rosterd drop box", error="invalid_token"`)
		daemon.WriteError(w, http.StatusUnauthorized, "invalid_token", "", fmt.Sprintf("the upload token is not valid for feed %s/%s", tenant, feedName))
		return
	}
	name := "upload"
	for k, v := range r.URL.Query() {
		switch {
		case k != "name":
			b.uploads.WithLabelValues("https", resultRefused).Inc()
			daemon.WriteError(w, http.StatusBadRequest, "unknown_parameter", k, fmt.Sprintf("unknown query parameter %q (the only one is name)", k))
			return
		case len(v) != 1:
			b.uploads.WithLabelValues("https", resultRefused).Inc()
			daemon.WriteError(w, http.StatusBadRequest, "invalid_parameter", "name", "give name once")
			return
		}
		name = v[0]
	}
	if err := checkName(name); err != nil {
		b.uploads.WithLabelValues("https", resultRefused).Inc()
		daemon.WriteError(w, http.StatusBadRequest, "invalid_parameter", "name", err.Error())
		return
	}
	if r.ContentLength > f.MaxSize {
		b.uploads.WithLabelValues("https", resultTooLarge).Inc()
		daemon.WriteError(w, http.StatusRequestEntityTooLarge, "too_large", "",
			fmt.Sprintf("the upload has %d bytes, over the feed's max_file_size of %d bytes", r.ContentLength, f.MaxSize))
		return
	}
	if r.ContentLength == 0 {
		b.uploads.WithLabelValues("https", resultIncomplete).Inc()
		daemon.WriteError(w, http.StatusBadRequest, "empty_upload", "", "the body is empty: send the file as the request body")
		return
	}

	up, err := begin(&f.Feed, name, b.opt.Now)
	if err != nil {
		b.log.Error("starting an upload", "tenant", tenant, "feed", feedName, "err", err)
		daemon.WriteError(w, http.StatusInternalServerError, "internal", "", "the upload could not be stored")
		return
	}
	h := sha256.New()
	// One byte more than the limit tells a body over it from one at it.
	n, err := io.Copy(io.MultiWriter(up, h), io.LimitReader(r.Body, f.MaxSize+1))
	switch {
	case errors.Is(err, ErrTooLarge) || (err == nil && n > f.MaxSize):
		up.abort(ErrTooLarge)
		b.uploads.WithLabelValues("https", resultTooLarge).Inc()
		daemon.WriteError(w, http.StatusRequestEntityTooLarge, "too_large", "", fmt.Sprintf("the upload is over the feed's max_file_size of %d bytes: nothing was stored", f.MaxSize))
		return
	case err != nil:
		up.abort(err)
		b.uploads.WithLabelValues("https", resultIncomplete).Inc()
		b.log.Warn("upload broken off: nothing stored", "tenant", tenant, "feed", feedName, "after_bytes", n, "remote", r.RemoteAddr, "err", err)
		daemon.WriteError(w, http.StatusBadRequest, "upload_incomplete", "", "the body ended after "+strconv.FormatInt(n, 10)+" bytes, before it was complete: nothing was stored")
		return
	case n == 0:
		up.abort(ErrEmpty)
		b.uploads.WithLabelValues("https", resultIncomplete).Inc()
		daemon.WriteError(w, http.StatusBadRequest, "empty_upload", "", "the body is empty: send the file as the request body")
		return
	}
	stored, err := up.commit()
	if err != nil {
		b.log.Error("storing an upload", "tenant", tenant, "feed", feedName, "err", err)
		daemon.WriteError(w, http.StatusInternalServerError, "internal", "", "the upload could not be stored")
		return
	}
	resp := putResponse{Tenant: tenant, Feed: feedName, File: stored, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Run: "next_schedule"}
	if b.stored(f, "https", stored, n, r.RemoteAddr) {
		resp.Run = "queued"
	}
	daemon.WriteJSON(w, http.StatusCreated, resp)
}
