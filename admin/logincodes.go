package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/rosterd/rosterd/directory"
	"github.com/rosterd/rosterd/internal/daemon"
	"github.com/rosterd/rosterd/store"
)

// LoginCodes redeems the one-time codes a SAML login hands the platform
// (the saml package's Server). Redeem spends the code and returns its card;
// a code unknown, spent, expired or of another tenant (when tenant is not
// empty) is an error wrapping store.ErrNotFound, a card disabled since the
// login directory.ErrDisabled.
type LoginCodes interface {
	Redeem(ctx context.Context, code, tenant string) (directory.Card, error)
}

// WithLoginCodes enables POST /api/v1/login-codes/redeem; without it the
// route answers 404 not_configured. Call it before Mount.
func (a *API) WithLoginCodes(lc LoginCodes) *API {
	a.loginCodes = lc
	return a
}

// RedeemedLogin is what the platform learns of a logged-in person.
type RedeemedLogin struct {
	ID          string           `json:"id"`
	Tenant      string           `json:"tenant"`
	Email       string           `json:"email"`
	GivenName   string           `json:"given_name"`
	FamilyName  string           `json:"family_name"`
	DisplayName string           `json:"display_name"`
	Groups      []string         `json:"groups"`
	Status      directory.Status `json:"status"`
}

// redeemLoginCode: POST /api/v1/login-codes/redeem {"code": "…", "tenant": "…"}.
// The tenant is optional; a key bound to a tenant redeems only that
// tenant's codes. A code is spent by the first attempt whatever its
// outcome, so a code presented for the wrong tenant is gone.
func (a *API) redeemLoginCode(w http.ResponseWriter, r *http.Request) {
	if a.loginCodes == nil {
		daemon.WriteError(w, http.StatusNotFound, "not_configured", "", "no tenant has SAML login configured")
		return
	}
	var body struct {
		Code   string `json:"code"`
		Tenant string `json:"tenant"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_body", "", `send {"code": "<login code>"} as JSON`)
		return
	}
	if body.Code == "" {
		daemon.WriteError(w, http.StatusBadRequest, "invalid_value", "code", "code is required")
		return
	}
	tenant := body.Tenant
	if key, ok := KeyFrom(r.Context()); ok && key.Tenant != "" {
		if tenant != "" && tenant != key.Tenant {
			daemon.WriteError(w, http.StatusForbidden, "wrong_tenant", "tenant", "this admin key belongs to another tenant")
			return
		}
		tenant = key.Tenant
	}
	card, err := a.loginCodes.Redeem(r.Context(), body.Code, tenant)
	switch {
	case errors.Is(err, store.ErrNotFound):
		daemon.WriteError(w, http.StatusBadRequest, "invalid_code", "code", "the login code is unknown, expired, already redeemed, or of another tenant")
		return
	case errors.Is(err, directory.ErrDisabled):
		daemon.WriteError(w, http.StatusForbidden, "card_disabled", "", "the card was disabled after the login")
		return
	case err != nil:
		a.logger.Error("redeeming a login code", "err", err)
		daemon.WriteError(w, http.StatusInternalServerError, "internal", "", "the login code could not be redeemed")
		return
	}
	groups := card.Attributes.Groups
	if groups == nil {
		groups = []string{}
	}
	w.Header().Set("Cache-Control", "no-store")
	daemon.WriteJSON(w, http.StatusOK, RedeemedLogin{ID: card.ID, Tenant: card.Tenant, Email: card.Email,
		GivenName: card.Attributes.GivenName, FamilyName: card.Attributes.FamilyName, DisplayName: card.Attributes.DisplayName,
		Groups: groups, Status: directory.StatusOf(card, time.Now())})
}
