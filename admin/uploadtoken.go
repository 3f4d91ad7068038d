package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/rosterd/rosterd/internal/credential"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/sync/dropbox"
)

// UploadTokens makes the upload tokens of feeds with source: upload
// (*dropbox.Box), and revokes them when their feed is deleted.
type UploadTokens interface {
	CreateToken(ctx context.Context, by credential.Actor, tenant, feed string) (string, error)
	RevokeTokens(ctx context.Context, by credential.Actor, tenant, feed string) error
}

// uploadTokenRoutes are the drop box's endpoints.
func (a *API) uploadTokenRoutes() []route {
	return []route{
		{pattern: "POST /api/v1/tenants/{t}/feeds/{name}/upload-token", handler: a.inTenant(a.createUploadToken)},
	}
}

// uploadTokenBody is what a new upload token answers.
type uploadTokenBody struct {
	Tenant string `json:"tenant"`
	Feed   string `json:"feed"`
	// Token is shown this once; only its hash is kept.
	Token string `json:"token"`
	// UploadURL is where the token uploads: PUT with the file as the body.
	UploadURL string `json:"upload_url"`
}

// createUploadToken makes a new upload token for a feed with source:
// upload and revokes the one made before through the API. Any read-write
// admin key that reaches the tenant may: the customer's admin hands the
// token to whoever sends the HR file.
func (a *API) createUploadToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if len(r.URL.Query()) > 0 {
		for k := range r.URL.Query() {
			daemon.WriteError(w, http.StatusBadRequest, "unknown_parameter", k, fmt.Sprintf("unknown query parameter %q: this endpoint takes none", k))
			return
		}
	}
	if r.ContentLength > 0 {
		daemon.WriteError(w, http.StatusBadRequest, "unexpected_body", "", "this endpoint takes no body")
		return
	}
	if a.services.UploadTokens == nil {
		daemon.WriteError(w, http.StatusServiceUnavailable, "not_configured", "", "the drop box is not running")
		return
	}
	feed := r.PathValue("name")
	token, err := a.services.UploadTokens.CreateToken(r.Context(), keyActor(r), tenant, feed)
	if errors.Is(err, dropbox.ErrUnknownFeed) {
		daemon.WriteError(w, http.StatusNotFound, "unknown_feed", "name", fmt.Sprintf("no feed %q with source: upload in this tenant", feed))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	daemon.WriteJSON(w, http.StatusCreated, uploadTokenBody{Tenant: tenant, Feed: feed, Token: token,
		UploadURL: a.services.PublicURL + "/drop/" + tenant + "/" + feed})
}
