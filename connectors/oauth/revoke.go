package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/mediatorhq/mediator/credentials"
)

// ErrNoRevocationEndpoint says the authorization server's metadata names
// no revocation endpoint, so its tokens can only be forgotten, and stay
// valid at the server until they expire.
var ErrNoRevocationEndpoint = errors.New("the authorization server offers no revocation endpoint (RFC 7009), so its tokens stay valid until they expire")

// Revocation is what revoking one stored token set came to.
type Revocation struct {
	Issuer   string
	ClientID string
	Resource string
	// Revoked lists the tokens the authorization server took back:
	// "refresh_token", "access_token".
	Revoked []string
	// Err says why a token could not be revoked; it never holds a token.
	Err error
}

// Revoke asks the authorization server of every token set stored for this
// server to revoke it (RFC 7009): the refresh token first, since revoking
// it ends the grant, then the access token. It revokes and forgets nothing
// else: the caller forgets the tokens whatever the outcome, because a
// logout must not depend on a server that is down.
func (h *Handler) Revoke(ctx context.Context) ([]Revocation, error) {
	inv, err := h.store.Inventory(ctx, h.cfg.ServerName)
	if err != nil {
		return nil, err
	}
	var out []Revocation
	for _, l := range inv.Logins {
		key := TokenKey{Server: h.cfg.ServerName, Issuer: l.Issuer, ClientID: l.ClientID, Resource: l.Resource}
		r := Revocation{Issuer: l.Issuer, ClientID: l.ClientID, Resource: l.Resource}
		r.Revoked, r.Err = h.revokeLogin(ctx, key)
		out = append(out, r)
	}
	return out, nil
}

func (h *Handler) revokeLogin(ctx context.Context, key TokenKey) ([]string, error) {
	tok, err := h.store.LoadToken(ctx, key)
	if err != nil {
		return nil, err
	}
	meta, err := h.authServerMetadata(ctx, key.Issuer)
	if err != nil {
		return nil, err
	}
	if meta == nil || meta.RevocationEndpoint == "" {
		return nil, ErrNoRevocationEndpoint
	}
	if _, err := h.guardPolicy().checkURL(meta.RevocationEndpoint); err != nil {
		return nil, fmt.Errorf("authorization server %s metadata revocation_endpoint: %w", key.Issuer, err)
	}
	// The client that got the tokens authenticates the request. Without
	// the user no client is registered anew; one that is gone from the
	// config is tried as a public client, which only a public client
	// passes.
	ca, err := h.register(ctx, &discovered{issuer: key.Issuer, meta: meta}, false)
	if err != nil || ca.clientID != key.ClientID {
		ca = clientAuth{clientID: key.ClientID, method: AuthMethodNone}
	}
	var revoked []string
	for _, t := range []struct {
		hint  string
		value credentials.Secret
	}{{"refresh_token", tok.RefreshToken}, {"access_token", tok.AccessToken}} {
		if t.value.IsZero() {
			continue
		}
		if err := h.revokeToken(ctx, meta.RevocationEndpoint, key.Issuer, ca, t.hint, t.value); err != nil {
			return revoked, fmt.Errorf("revoking the %s: %w", strings.ReplaceAll(t.hint, "_", " "), err)
		}
		revoked = append(revoked, t.hint)
	}
	return revoked, nil
}

// revokeToken makes one RFC 7009 request. A 200 means the token is no
// longer valid, whether it was before or not (§2.2).
func (h *Handler) revokeToken(ctx context.Context, endpoint, issuer string, ca clientAuth, hint string, token credentials.Secret) error {
	form := url.Values{"token": {token.Reveal()}, "token_type_hint": {hint}}
	user, pass, err := h.authenticateClient(form, ca, issuer)
	if err != nil {
		return err
	}
	ctx, cancel := h.guardPolicy().fetchContext(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("revocation endpoint %q: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return fmt.Errorf("revocation endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	// The error code only: a description could quote the token.
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Errorf("the revocation endpoint answered %s (%s)", resp.Status, e.Error)
	}
	return fmt.Errorf("the revocation endpoint answered %s", resp.Status)
}
