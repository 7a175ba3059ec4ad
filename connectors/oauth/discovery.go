package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// ServerMetadata is RFC 8414 / OpenID discovery metadata with the fields
// the go-sdk's struct lacks.
type ServerMetadata struct {
	oauthex.AuthServerMeta
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DeviceAuthorizationEndpoint   string   `json:"device_authorization_endpoint,omitempty"`
}

// challenge is the part of a WWW-Authenticate response mediator acts on.
type challenge struct {
	scheme           string // "bearer" or "dpop"
	resourceMetadata string
	scope            []string
	err              string
}

func parseChallenge(h http.Header) challenge {
	cs, err := oauthex.ParseWWWAuthenticate(h.Values("WWW-Authenticate"))
	if err != nil {
		// A malformed header still means "authenticate"; discovery falls
		// back to the well-known URLs.
		return challenge{}
	}
	var out challenge
	for _, c := range cs {
		if c.Scheme != "bearer" && c.Scheme != "dpop" {
			continue
		}
		if out.scheme == "" {
			out.scheme = c.Scheme
		}
		if out.resourceMetadata == "" {
			out.resourceMetadata = c.Params["resource_metadata"]
		}
		if out.scope == nil && c.Params["scope"] != "" {
			out.scope = strings.Fields(c.Params["scope"])
		}
		if out.err == "" {
			out.err = c.Params["error"]
		}
	}
	return out
}

// discovered is everything the authorization step needs about one server.
type discovered struct {
	// resource is the RFC 8707 resource indicator: the PRM's resource, which
	// was checked to be the MCP server's URL (or its origin for root PRM).
	resource        string
	scopesSupported []string
	issuer          string
	meta            *ServerMetadata
	// fallback marks 2025-03-26 servers that publish no metadata at all.
	fallback bool
}

// CanonicalResource is the RFC 8707 form of a server URL: lowercase scheme
// and host, no fragment, no trailing slash unless the path is just "/".
func CanonicalResource(serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("server URL %q is not an absolute URL", serverURL)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Fragment = ""
	u.RawFragment = ""
	if len(u.Path) > 1 {
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
	}
	if u.Path == "/" {
		u.Path = ""
	}
	return u.String(), nil
}

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// discover follows the MCP authorization spec: PRM from the challenge's
// resource_metadata, else the path-based and then the root well-known URL;
// then the authorization server's metadata.
func (h *Handler) discover(ctx context.Context, ch challenge) (*discovered, error) {
	prm, err := h.protectedResourceMetadata(ctx, ch)
	if err != nil {
		return nil, err
	}
	if prm == nil {
		return h.legacyDiscovery(ctx)
	}
	if len(prm.AuthorizationServers) == 0 {
		return nil, fmt.Errorf("protected resource metadata of %s lists no authorization_servers", h.resource)
	}
	issuer := prm.AuthorizationServers[0]
	meta, err := h.authServerMetadata(ctx, issuer)
	if err != nil {
		return nil, err
	}
	if meta == nil {
		return nil, fmt.Errorf("authorization server %s publishes no metadata at any of %s", issuer, strings.Join(metadataURLs(issuer), ", "))
	}
	if err := h.checkServerMetadata(meta); err != nil {
		return nil, err
	}
	return &discovered{resource: prm.Resource, scopesSupported: prm.ScopesSupported, issuer: issuer, meta: meta}, nil
}

func (h *Handler) protectedResourceMetadata(ctx context.Context, ch challenge) (*oauthex.ProtectedResourceMetadata, error) {
	ru, _ := url.Parse(h.resource)
	// rootDoc marks the root well-known URL, whose resource identifier per
	// RFC 9728 §3.1 may be the bare origin.
	type candidate struct {
		url     string
		rootDoc bool
	}
	var cands []candidate
	if ch.resourceMetadata != "" {
		cands = append(cands, candidate{url: ch.resourceMetadata})
	}
	if p := strings.Trim(ru.Path, "/"); p != "" {
		cands = append(cands, candidate{url: origin(ru) + "/.well-known/oauth-protected-resource/" + p})
	}
	cands = append(cands, candidate{url: origin(ru) + "/.well-known/oauth-protected-resource", rootDoc: true})

	for _, c := range cands {
		var prm oauthex.ProtectedResourceMetadata
		found, err := h.getJSON(ctx, c.url, &prm)
		if err != nil {
			// Only "not here" moves on to the next URL. A network, TLS or
			// server failure says nothing about where the metadata is, and
			// falling back to legacy discovery on it would skip checks the
			// metadata would have enabled (PKCE among them).
			return nil, fmt.Errorf("protected resource metadata: %w", err)
		}
		if !found {
			continue
		}
		// RFC 9728 §3.3: the metadata must be about the resource we call.
		// A document for another resource is an attack or a misconfiguration;
		// either way no authorization request may follow.
		if prm.Resource != h.resource && !(c.rootDoc && prm.Resource == origin(ru)) {
			return nil, fmt.Errorf("protected resource metadata at %s is for resource %q, not %q: refusing to authorize", c.url, prm.Resource, h.resource)
		}
		for i, as := range prm.AuthorizationServers {
			if _, err := h.guardPolicy().checkURL(as); err != nil {
				return nil, fmt.Errorf("protected resource metadata authorization_servers[%d]: %w", i, err)
			}
		}
		return &prm, nil
	}
	h.log.Debug("no protected resource metadata", "server", h.cfg.ServerName)
	return nil, nil
}

// metadataURLs lists the discovery URLs for an issuer in the order of the
// MCP spec (authorization-server-discovery): RFC 8414 first, then OpenID.
func metadataURLs(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	o := origin(u)
	// RFC 8414 §3.1: a terminating "/" is removed before inserting.
	p := strings.Trim(u.Path, "/")
	if p == "" {
		return []string{
			o + "/.well-known/oauth-authorization-server",
			o + "/.well-known/openid-configuration",
		}
	}
	return []string{
		o + "/.well-known/oauth-authorization-server/" + p,
		o + "/.well-known/openid-configuration/" + p,
		o + "/" + p + "/.well-known/openid-configuration",
	}
}

func (h *Handler) authServerMetadata(ctx context.Context, issuer string) (*ServerMetadata, error) {
	for _, mu := range metadataURLs(issuer) {
		var m ServerMetadata
		found, err := h.getJSON(ctx, mu, &m)
		if err != nil {
			return nil, fmt.Errorf("authorization server metadata: %w", err)
		}
		if !found {
			continue
		}
		// RFC 8414 §3.3 and OpenID Discovery §4.3: identical, no
		// normalization (not even a trailing slash).
		if m.Issuer != issuer {
			return nil, fmt.Errorf("authorization server metadata at %s names issuer %q, but it was discovered as %q: refusing to use it", mu, m.Issuer, issuer)
		}
		return &m, nil
	}
	return nil, nil
}

// checkServerMetadata enforces what must hold before any user is sent to
// the authorization server.
func (h *Handler) checkServerMetadata(m *ServerMetadata) error {
	for name, v := range map[string]string{
		"authorization_endpoint": m.AuthorizationEndpoint,
		"token_endpoint":         m.TokenEndpoint,
		"registration_endpoint":  m.RegistrationEndpoint,
	} {
		if v == "" {
			continue
		}
		if _, err := h.guardPolicy().checkURL(v); err != nil {
			return fmt.Errorf("authorization server %s metadata %s: %w", m.Issuer, name, err)
		}
	}
	if m.TokenEndpoint == "" {
		return fmt.Errorf("authorization server %s metadata has no token_endpoint", m.Issuer)
	}
	return nil
}

// requirePKCE refuses an authorization server that does not advertise S256
// (MCP security considerations: absent support means refuse to proceed).
func requirePKCE(m *ServerMetadata) error {
	if !slices.Contains(m.CodeChallengeMethodsSupported, "S256") {
		return fmt.Errorf("authorization server %s does not advertise PKCE S256 (code_challenge_methods_supported=%q): refusing to start an authorization code flow", m.Issuer, m.CodeChallengeMethodsSupported)
	}
	return nil
}

// legacyDiscovery is the 2025-03-26 rule for servers without protected
// resource metadata: the server's origin is the authorization server, its
// metadata at the root, else the default endpoints.
//
// A server that publishes no metadata at all (every URL answered "not
// here") is marked fallback, and the authorization code flow then runs
// without the PKCE support check: such a server has no
// code_challenge_methods_supported to check, and 2025-03-26 made metadata
// optional. mediator still sends an S256 challenge, so an authorization
// server that does check PKCE gets one. The suite's backcompat scenarios
// (auth/2025-03-26-oauth-endpoint-fallback) need this; every server that
// publishes metadata must advertise S256.
func (h *Handler) legacyDiscovery(ctx context.Context) (*discovered, error) {
	ru, _ := url.Parse(h.resource)
	issuer := origin(ru)
	meta, err := h.authServerMetadata(ctx, issuer)
	if err != nil {
		return nil, err
	}
	d := &discovered{resource: h.resource, issuer: issuer, meta: meta}
	if meta == nil {
		d.fallback = true
		d.meta = &ServerMetadata{AuthServerMeta: oauthex.AuthServerMeta{
			Issuer:                issuer,
			AuthorizationEndpoint: issuer + "/authorize",
			TokenEndpoint:         issuer + "/token",
			RegistrationEndpoint:  issuer + "/register",
		}}
	}
	if err := h.checkServerMetadata(d.meta); err != nil {
		return nil, err
	}
	return d, nil
}

// getJSON fetches a metadata document through the guarded client. found is
// false when the server answered that the document is not at this URL;
// every other failure is an error, so discovery stops on it instead of
// guessing.
func (h *Handler) getJSON(ctx context.Context, rawURL string, v any) (found bool, err error) {
	ctx, cancel := h.guardPolicy().fetchContext(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrBlockedURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.client().Do(req)
	if err != nil {
		return false, fmt.Errorf("fetching %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if notHere(resp.StatusCode) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("fetching %s: status %s", rawURL, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return false, fmt.Errorf("decoding %s: %w", rawURL, err)
	}
	return true, nil
}

// notHere reports whether a status means "no such document at this URL":
// discovery then tries the next URL. Besides 404 and 410 that is any other
// 4xx (RFC 9728 and RFC 8414 give clients no finer rule, and servers that
// protect every path answer 401 or 403 at a well-known URL they do not
// serve), except 408 and 429, which say "try later", not "not here". 5xx
// is a broken server, reported as such.
func notHere(status int) bool {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return false
	case status >= 400 && status < 500:
		return true
	}
	return false
}
