package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mediatorhq/mediator/credentials"
)

// register resolves the client for one authorization server in the MCP
// spec's priority: pre-registered (config), client ID metadata document,
// a stored dynamic registration, dynamic registration, then the user. A
// handler that cannot log the user in (interactive false) stops before
// dynamic registration with errNotRegistered: a registration nobody uses
// would only clutter the authorization server.
func (h *Handler) register(ctx context.Context, d *discovered, interactive bool) (clientAuth, error) {
	meta := d.meta
	var notes []string

	if c := h.cfg.Client; c != nil && c.ClientID != "" {
		switch c.Issuer {
		case d.issuer:
			return h.configuredClient(c, meta.TokenEndpointAuthMethodsSupported), nil
		case "":
			if err := h.pinIssuer(ctx, c.ClientID, d.issuer); err != nil {
				return clientAuth{}, err
			}
			return h.configuredClient(c, meta.TokenEndpointAuthMethodsSupported), nil
		}
		// SEP-2352: a client registered with another AS must not be used here.
		h.log.Warn("pre-registered client is bound to another authorization server; not using it", "server", h.cfg.ServerName, "client_issuer", c.Issuer, "issuer", d.issuer)
		notes = append(notes, fmt.Sprintf("the configured client is registered with %s, not %s", c.Issuer, d.issuer))
	}

	if h.cfg.ClientMetadataURL != "" {
		if meta.ClientIDMetadataDocumentSupported {
			ca := clientAuth{clientID: h.cfg.ClientMetadataURL, method: AuthMethodNone}
			if c := h.cfg.Client; c != nil && c.Key != nil {
				ca.method, ca.key = AuthMethodPrivateKeyJWT, c.Key
			}
			return ca, nil
		}
		notes = append(notes, "the server does not support client ID metadata documents")
	}

	if reg, err := h.store.LoadRegistration(ctx, h.cfg.ServerName, d.issuer); err == nil && h.registrationFits(reg, interactive) {
		return clientAuth{clientID: reg.ClientID, method: reg.AuthMethod, secret: reg.ClientSecret}, nil
	} else if err != nil && !errors.Is(err, ErrNotStored) {
		return clientAuth{}, err
	}
	if !interactive {
		return clientAuth{}, errNotRegistered
	}

	if !h.cfg.DisableDynamicRegistration {
		if meta.RegistrationEndpoint != "" {
			reg, err := h.dynamicRegistration(ctx, d)
			if err != nil {
				return clientAuth{}, err
			}
			if err := h.store.SaveRegistration(ctx, h.cfg.ServerName, reg); err != nil {
				return clientAuth{}, fmt.Errorf("saving the client registration: %w", err)
			}
			return clientAuth{clientID: reg.ClientID, method: reg.AuthMethod, secret: reg.ClientSecret}, nil
		}
		notes = append(notes, "the server offers no dynamic client registration")
	}

	if h.cfg.AskClient != nil {
		c, err := h.cfg.AskClient(ctx, d.issuer)
		if err != nil {
			return clientAuth{}, fmt.Errorf("asking for a client ID: %w", err)
		}
		if c == nil || c.ClientID == "" {
			return clientAuth{}, errors.New("no client ID was given")
		}
		reg := &Registration{Issuer: d.issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, AuthMethod: h.configuredClient(c, meta.TokenEndpointAuthMethodsSupported).method, RedirectURIs: []string{h.cfg.RedirectURL}}
		if err := h.store.SaveRegistration(ctx, h.cfg.ServerName, reg); err != nil {
			return clientAuth{}, fmt.Errorf("saving the client registration: %w", err)
		}
		return h.configuredClient(c, meta.TokenEndpointAuthMethodsSupported), nil
	}
	return clientAuth{}, fmt.Errorf("no way to register a client with authorization server %s (%s): configure auth.client_id for server %q", d.issuer, strings.Join(notes, "; "), h.cfg.ServerName)
}

// registrationFits reports whether a stored registration serves this
// handler: registered with its redirect URI and, for a login, for the
// grant the login uses (a client registered for the browser login may not
// use the device grant, and the other way round). A handler without the
// user only looks for the registration a login made, whatever its grant.
// Registrations stored before grant types were recorded are taken as fit.
func (h *Handler) registrationFits(reg *Registration, interactive bool) bool {
	if h.cfg.Device == nil && len(reg.RedirectURIs) > 0 && h.cfg.RedirectURL != "" && !slices.Contains(reg.RedirectURIs, h.cfg.RedirectURL) {
		return false
	}
	return !interactive || len(reg.GrantTypes) == 0 || slices.Contains(reg.GrantTypes, h.loginGrant())
}

// loginGrant is the grant type an interactive login of this handler uses.
func (h *Handler) loginGrant() string {
	if h.cfg.Device != nil {
		return grantDeviceCode
	}
	return grantAuthorizationCode
}

// pinIssuer binds a configured client that names no issuer to the first
// authorization server it is used with (SEP-2352: credentials belong to one
// authorization server). A server that later points elsewhere does not get
// the client's credentials; the user confirms the move by setting
// auth.issuer.
func (h *Handler) pinIssuer(ctx context.Context, clientID, issuer string) error {
	pinned, err := h.store.LoadClientIssuer(ctx, h.cfg.ServerName, clientID)
	switch {
	case errors.Is(err, ErrNotStored):
		if err := h.store.SaveClientIssuer(ctx, h.cfg.ServerName, clientID, issuer); err != nil {
			return fmt.Errorf("recording the authorization server of the configured client %q: %w", clientID, err)
		}
		return nil
	case err != nil:
		return err
	case pinned == issuer:
		return nil
	}
	return fmt.Errorf("the configured client %q was first used with authorization server %s, but server %q now names %s: refusing to send the client's credentials there; if the server really moved, set auth.issuer: %s in its config (`mediator auth logout %s` forgets the old one)",
		clientID, pinned, h.cfg.ServerName, issuer, issuer, h.cfg.ServerName)
}

func (h *Handler) configuredClient(c *ClientConfig, supported []string) clientAuth {
	ca := clientAuth{clientID: c.ClientID, secret: c.ClientSecret, key: c.Key}
	switch {
	case c.AuthMethod != "":
		ca.method = c.AuthMethod
	case c.Key != nil:
		ca.method = AuthMethodPrivateKeyJWT
	default:
		ca.method = chooseAuthMethod(supported, !c.ClientSecret.IsZero())
	}
	return ca
}

// dynamicRegistration is RFC 7591 with application_type (SEP-837): native
// for a loopback redirect, so the server accepts any loopback port.
func (h *Handler) dynamicRegistration(ctx context.Context, d *discovered) (*Registration, error) {
	appType := "web"
	if ru, err := url.Parse(h.cfg.RedirectURL); err == nil && (isLoopbackHost(ru.Hostname()) || (ru.Scheme != "http" && ru.Scheme != "https")) {
		appType = "native"
	}
	method := AuthMethodNone
	if sup := d.meta.TokenEndpointAuthMethodsSupported; len(sup) > 0 && !slices.Contains(sup, AuthMethodNone) {
		method = chooseAuthMethod(sup, true)
	}
	name := h.cfg.ClientName
	if name == "" {
		name = "mediator"
	}
	// One registration serves both logins where the server offers both:
	// RFC 8628 §3.4 wants the device grant registered, and the browser
	// login needs authorization_code with a redirect URI.
	var grants []string
	responseTypes := []string{}
	if h.cfg.RedirectURL != "" {
		grants = append(grants, grantAuthorizationCode)
		responseTypes = []string{"code"}
	}
	if h.cfg.Device != nil || offersDevice(d.meta) {
		grants = append(grants, grantDeviceCode)
		if h.cfg.Device != nil {
			appType = "native"
		}
	}
	grants = append(grants, grantRefreshToken)
	md := map[string]any{
		"client_name":                name,
		"grant_types":                grants,
		"response_types":             responseTypes,
		"token_endpoint_auth_method": method,
		"application_type":           appType,
	}
	if h.cfg.RedirectURL != "" {
		md["redirect_uris"] = []string{h.cfg.RedirectURL}
	}
	body, _ := json.Marshal(md)
	ctx, cancel := h.guardPolicy().fetchContext(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.meta.RegistrationEndpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("registration endpoint %q: %w", d.meta.RegistrationEndpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("dynamic client registration at %s: %w", d.meta.RegistrationEndpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the registration response of %s: %w", d.meta.RegistrationEndpoint, err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		var e struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		_ = json.Unmarshal(raw, &e)
		hint := ""
		if e.Error == "invalid_redirect_uri" {
			hint = fmt.Sprintf(" (the server rejected the %s redirect URI %s; configure a pre-registered client instead)", appType, h.cfg.RedirectURL)
		}
		return nil, fmt.Errorf("dynamic client registration at %s failed: %s %s %s%s", d.meta.RegistrationEndpoint, resp.Status, e.Error, e.ErrorDescription, hint)
	}
	var r struct {
		ClientID                string   `json:"client_id"`
		ClientSecret            string   `json:"client_secret"`
		TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
		RedirectURIs            []string `json:"redirect_uris"`
		GrantTypes              []string `json:"grant_types"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.ClientID == "" {
		return nil, fmt.Errorf("dynamic client registration at %s returned no client_id", d.meta.RegistrationEndpoint)
	}
	reg := &Registration{Issuer: d.issuer, ClientID: r.ClientID, ClientSecret: credentials.NewSecret(r.ClientSecret), AuthMethod: r.TokenEndpointAuthMethod, GrantTypes: r.GrantTypes}
	if len(reg.GrantTypes) == 0 {
		// RFC 7591 §3.2.1: the server returns the registered metadata;
		// one that leaves it out registered what was asked.
		reg.GrantTypes = grants
	}
	if h.cfg.RedirectURL != "" {
		reg.RedirectURIs = []string{h.cfg.RedirectURL}
	}
	if reg.AuthMethod == "" {
		reg.AuthMethod = method
		if r.ClientSecret != "" && method == AuthMethodNone {
			reg.AuthMethod = AuthMethodSecretBasic
		}
	}
	return reg, nil
}

// machineClient is the client identity of the machine grants.
func (h *Handler) machineClient(ctx context.Context, d *discovered) (clientAuth, error) {
	c := h.cfg.Client
	if h.cfg.Grant == GrantJWTBearer && (c == nil || (c.ClientSecret.IsZero() && c.Key == nil)) {
		// Workload identity: the assertion is the credential.
		ca := clientAuth{method: AuthMethodNone}
		if c != nil {
			ca.clientID = c.ClientID
		}
		return ca, nil
	}
	if c == nil {
		return clientAuth{}, fmt.Errorf("grant %s needs a configured client", h.cfg.Grant)
	}
	if c.Issuer != "" && c.Issuer != d.issuer {
		return clientAuth{}, fmt.Errorf("the configured client is registered with %s, but the server uses %s: refusing to send its credentials there", c.Issuer, d.issuer)
	}
	if c.Issuer == "" && c.ClientID != "" {
		if err := h.pinIssuer(ctx, c.ClientID, d.issuer); err != nil {
			return clientAuth{}, err
		}
	}
	return h.configuredClient(c, d.meta.TokenEndpointAuthMethodsSupported), nil
}

// machineGrant runs a grant that needs no user.
func (h *Handler) machineGrant(ctx context.Context, d *discovered, ca clientAuth, scopes []string) (*Token, error) {
	useDPoP := h.dpop != nil && slices.Contains(d.meta.DPoPSigningAlgValuesSupported, "ES256")
	form := url.Values{"resource": {d.resource}}
	if len(scopes) > 0 {
		form.Set("scope", joinScopes(scopes))
	}
	switch h.cfg.Grant {
	case GrantClientCredentials:
		form.Set("grant_type", grantClientCredentials)
	case GrantJWTBearer:
		a, err := h.cfg.Assertion(ctx)
		if err != nil {
			return nil, fmt.Errorf("obtaining the workload identity assertion: %w", err)
		}
		form.Set("grant_type", grantJWTBearer)
		form.Set("assertion", a.Reveal())
	case GrantEnterprise:
		jag, err := h.idJAG(ctx, d, scopes)
		if err != nil {
			return nil, err
		}
		form.Set("grant_type", grantJWTBearer)
		form.Set("assertion", jag.Reveal())
	default:
		return nil, fmt.Errorf("grant %q needs the user", h.cfg.Grant)
	}
	tok, _, err := h.tokenRequestFor(ctx, d, ca, form, useDPoP)
	if err != nil {
		// Workload identity errors (invalid_grant, invalid_scope,
		// unauthorized_client) are surfaced as they are: no retry and no
		// other grant, per SEP-1933.
		return nil, fmt.Errorf("%s grant at %s: %w", h.cfg.Grant, d.issuer, err)
	}
	if len(tok.Scopes) == 0 {
		tok.Scopes = scopes
	}
	return tok, nil
}

// idJAG exchanges the SSO ID token at the enterprise IdP for an identity
// assertion authorization grant aimed at the MCP server's AS (RFC 8693,
// SEP-990).
func (h *Handler) idJAG(ctx context.Context, d *discovered, scopes []string) (credentials.Secret, error) {
	e := h.cfg.Enterprise
	if _, err := h.guardPolicy().checkURL(e.TokenEndpoint); err != nil {
		return credentials.Secret{}, fmt.Errorf("IdP token endpoint: %w", err)
	}
	idt, err := e.IDToken(ctx)
	if err != nil {
		return credentials.Secret{}, fmt.Errorf("obtaining the enterprise ID token: %w", err)
	}
	form := url.Values{
		"grant_type":           {grantTokenExchange},
		"subject_token":        {idt.Reveal()},
		"subject_token_type":   {tokenTypeIDToken},
		"requested_token_type": {tokenTypeIDJAG},
		"audience":             {d.issuer},
		"resource":             {d.resource},
	}
	if len(scopes) > 0 {
		form.Set("scope", joinScopes(scopes))
	}
	ca := clientAuth{clientID: e.ClientID, method: AuthMethodNone}
	if !e.ClientSecret.IsZero() {
		ca.method, ca.secret = AuthMethodSecretBasic, e.ClientSecret
	}
	tok, raw, err := h.tokenRequest(ctx, e.TokenEndpoint, "", ca, form, nil)
	if err != nil {
		return credentials.Secret{}, fmt.Errorf("token exchange for an ID-JAG at the IdP: %w", err)
	}
	if raw.IssuedTokenType != tokenTypeIDJAG {
		return credentials.Secret{}, fmt.Errorf("IdP issued token type %q, want %s", raw.IssuedTokenType, tokenTypeIDJAG)
	}
	return tok.AccessToken, nil
}
