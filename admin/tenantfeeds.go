package admin

import (
	"fmt"
	"net/http"

	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/tenant"
)

// feedRoutes are the operator's feeds and webhook endpoints of a tenant.
// A document takes the keys of a feeds[] (or webhooks[]) entry of the
// file and is checked by the file's rules; its secrets are stored sealed
// and never shown again. The list of feeds is GET …/feeds (listFeeds),
// which any key of the tenant reads.
func (a *API) feedRoutes() []route {
	const f = "/api/v1/tenants/{t}/feeds"
	const h = "/api/v1/tenants/{t}/webhooks"
	return []route{
		{pattern: "POST " + f, handler: a.operator(a.createFeed)},
		{pattern: "GET " + f + "/{feed}", handler: a.operator(a.getFeed)},
		{pattern: "PATCH " + f + "/{feed}", handler: a.operator(a.updateFeed)},
		{pattern: "DELETE " + f + "/{feed}", handler: a.operator(a.deleteFeed)},
		{pattern: "GET " + h, handler: a.operator(a.listWebhooks)},
		{pattern: "POST " + h, handler: a.operator(a.createWebhook)},
		{pattern: "GET " + h + "/{id}", handler: a.operator(a.getWebhook)},
		{pattern: "PATCH " + h + "/{id}", handler: a.operator(a.updateWebhook)},
		{pattern: "DELETE " + h + "/{id}", handler: a.operator(a.deleteWebhook)},
	}
}

func (a *API) createFeed(w http.ResponseWriter, r *http.Request) {
	doc, ok := readDocument(w, r)
	if !ok {
		return
	}
	f, err := a.services.Registry.CreateFeed(r.Context(), registryActor(r), r.PathValue("t"), doc)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+r.PathValue("t")+"/feeds/"+f.Name)
	daemon.WriteJSON(w, http.StatusCreated, f.View())
}

func (a *API) getFeed(w http.ResponseWriter, r *http.Request) {
	t, ok := a.lookupTenant(w, r)
	if !ok {
		return
	}
	f, found := t.Feed(r.PathValue("feed"))
	if !found {
		a.registryFail(w, r, fmt.Errorf("%w: feed %q of tenant %q", tenant.ErrFeedNotFound, r.PathValue("feed"), t.ID()))
		return
	}
	daemon.WriteJSON(w, http.StatusOK, f.View())
}

func (a *API) updateFeed(w http.ResponseWriter, r *http.Request) {
	doc, ok := readDocument(w, r)
	if !ok {
		return
	}
	f, err := a.services.Registry.UpdateFeed(r.Context(), registryActor(r), r.PathValue("t"), r.PathValue("feed"), doc)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, f.View())
}

func (a *API) deleteFeed(w http.ResponseWriter, r *http.Request) {
	if err := a.services.Registry.DeleteFeed(r.Context(), registryActor(r), r.PathValue("t"), r.PathValue("feed")); err != nil {
		a.registryFail(w, r, err)
		return
	}
	// The upload tokens made for the feed go with it: a feed made again
	// under its name starts without them.
	if a.services.UploadTokens != nil {
		if err := a.services.UploadTokens.RevokeTokens(r.Context(), keyActor(r), r.PathValue("t"), r.PathValue("feed")); err != nil {
			a.fail(w, r, fmt.Errorf("the feed is deleted, but its upload tokens could not all be revoked: %w", err))
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) {
	t, ok := a.lookupTenant(w, r)
	if !ok {
		return
	}
	out := []tenant.WebhookView{}
	for _, e := range t.WebhookEndpoints() {
		out = append(out, e.View())
	}
	daemon.WriteJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) {
	doc, ok := readDocument(w, r)
	if !ok {
		return
	}
	e, err := a.services.Registry.CreateWebhook(r.Context(), registryActor(r), r.PathValue("t"), doc)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+r.PathValue("t")+"/webhooks/"+e.ID)
	daemon.WriteJSON(w, http.StatusCreated, e.View())
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request) {
	t, ok := a.lookupTenant(w, r)
	if !ok {
		return
	}
	for _, e := range t.WebhookEndpoints() {
		if e.ID != "" && e.ID == r.PathValue("id") {
			daemon.WriteJSON(w, http.StatusOK, e.View())
			return
		}
	}
	a.registryFail(w, r, fmt.Errorf("%w: webhook %q of tenant %q", tenant.ErrFeedNotFound, r.PathValue("id"), t.ID()))
}

func (a *API) updateWebhook(w http.ResponseWriter, r *http.Request) {
	doc, ok := readDocument(w, r)
	if !ok {
		return
	}
	e, err := a.services.Registry.UpdateWebhook(r.Context(), registryActor(r), r.PathValue("t"), r.PathValue("id"), doc)
	if err != nil {
		a.registryFail(w, r, err)
		return
	}
	daemon.WriteJSON(w, http.StatusOK, e.View())
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := a.services.Registry.DeleteWebhook(r.Context(), registryActor(r), r.PathValue("t"), r.PathValue("id")); err != nil {
		a.registryFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
