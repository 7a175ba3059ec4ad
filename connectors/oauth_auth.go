package connectors

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/filelock"
)

// NewOAuthAuthenticator puts an OAuth handler (authorization code, client
// credentials, workload identity, enterprise) on the connector's auth seam.
// On the streamable transport the handler drives everything through
// OAuthHandler; Authenticate only fills in the current token where the
// transport has no OAuth hook (legacy SSE). It wraps the connector's
// transport for DPoP, so no Options.BaseTransport is needed for that.
func NewOAuthAuthenticator(h *oauth.Handler) OAuthAuthenticator {
	return oauthAuthenticator{h: h, authz: h}
}

type oauthAuthenticator struct {
	h     *oauth.Handler
	authz auth.OAuthHandler // h, or h behind a loginAuthorizer
}

func (a oauthAuthenticator) OAuthHandler() auth.OAuthHandler { return a.authz }

func (a oauthAuthenticator) WrapTransport(base http.RoundTripper) http.RoundTripper {
	return a.h.Transport(base)
}

func (a oauthAuthenticator) Authenticate(req *http.Request) error {
	if req.Header.Get("Authorization") != "" {
		return nil
	}
	ts, err := a.h.TokenSource(req.Context())
	if err != nil || ts == nil {
		return err
	}
	tok, err := ts.Token()
	if err != nil {
		// No usable token: send none, and let the server's 401 say so.
		return nil
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return nil
}

// SecretWriter is a SecretSource that can also store and remove items of
// its own server. OAuth types keep their tokens, client registrations and
// DPoP key there; *credentials.ServerSecrets implements it. Without it
// (Options.Secrets only reads) tokens live only as long as the connector.
type SecretWriter interface {
	SecretSource
	Set(ctx context.Context, name string, value credentials.Secret) error
	Remove(ctx context.Context, name string) error
}

// Login makes a connector's OAuth authorization interactive: what
// `mediator auth login` sets. Without it a connector of type oauth only
// uses what an earlier login stored (refreshing it as needed) and fails
// with KindAuth, naming the login command, when there is nothing usable.
// A login always authorizes anew, even when a stored token would do.
type Login struct {
	// OpenURL shows the authorization URL to the user (opens the browser,
	// or prints it); the code comes back to a one-shot listener on the
	// redirect URL's 127.0.0.1 port, which checks state. Nil means
	// oauth.OpenBrowser.
	OpenURL func(ctx context.Context, authURL string) error
	// Device, when set, uses the device authorization grant instead of a
	// redirect: it shows the verification URI and user code.
	Device oauth.DevicePrompt
	// Fetcher, when set, replaces the browser and listener (a headless
	// user agent).
	Fetcher oauth.CodeFetcher
}

// NewTokenStore is the keyring store that connectors of server name keep
// their OAuth tokens, registrations and DPoP key in: `mediator auth status`
// reads it and `mediator auth logout` empties it without connecting.
func NewTokenStore(name string, w SecretWriter) *oauth.KeyringStore {
	return &oauth.KeyringStore{Secrets: serverKeyring{server: name, w: w}}
}

// serverKeyring adapts one server's SecretWriter to the token store's
// (server, name) interface, refusing every other server.
type serverKeyring struct {
	server string
	w      SecretWriter
}

func (k serverKeyring) check(server string) error {
	if server != k.server {
		return fmt.Errorf("the token store of server %q refuses an item of server %q", k.server, server)
	}
	return nil
}

func (k serverKeyring) Get(server, name string) (credentials.Secret, error) {
	if err := k.check(server); err != nil {
		return credentials.Secret{}, err
	}
	return k.w.Secret(context.Background(), name)
}

func (k serverKeyring) Set(server, name string, v credentials.Secret) error {
	if err := k.check(server); err != nil {
		return err
	}
	return k.w.Set(context.Background(), name, v)
}

func (k serverKeyring) Remove(server, name string) error {
	if err := k.check(server); err != nil {
		return err
	}
	return k.w.Remove(context.Background(), name)
}

// oauthAuthenticator returns the connector's OAuth authenticator, building
// its handler at the first connect (reading the client's credentials from
// the keyring once) and keeping it for the connector's life.
func (c *Connector) oauthAuthenticator(ctx context.Context) (Authenticator, error) {
	c.oauthMu.Lock()
	defer c.oauthMu.Unlock()
	if c.oauth != nil {
		return *c.oauth, nil
	}
	h, err := c.buildOAuthHandler(ctx)
	if err != nil {
		return nil, err
	}
	a := oauthAuthenticator{h: h, authz: h}
	if c.opts.Login != nil {
		a.authz = &loginAuthorizer{Handler: h}
	}
	c.oauth = &a
	// Under c.mu with c.closed false, so Close's Wait sees it.
	c.mu.Lock()
	if !c.closed {
		c.wg.Add(1)
		go c.keepFresh(h)
	}
	c.mu.Unlock()
	return a, nil
}

// RevokeOAuth asks the authorization servers of the tokens stored for
// this server to revoke them (see oauth.Handler.Revoke), without
// connecting to the server. It does not forget them.
func (c *Connector) RevokeOAuth(ctx context.Context) ([]oauth.Revocation, error) {
	if !c.cfg.Auth.IsOAuth() {
		return nil, nil
	}
	a, err := c.oauthAuthenticator(ctx)
	if err != nil {
		return nil, err
	}
	return a.(oauthAuthenticator).h.Revoke(ctx)
}

// OAuth returns the connector's OAuth handler once a connect has built it,
// else nil: for status displays (issuer, client, scopes, expiry).
func (c *Connector) OAuth() *oauth.Handler {
	c.oauthMu.Lock()
	defer c.oauthMu.Unlock()
	if c.oauth == nil {
		return nil
	}
	return c.oauth.h
}

var configAuthMethods = map[string]string{
	AuthMethodNone:          oauth.AuthMethodNone,
	AuthMethodBasic:         oauth.AuthMethodSecretBasic,
	AuthMethodPost:          oauth.AuthMethodSecretPost,
	AuthMethodPrivateKeyJWT: oauth.AuthMethodPrivateKeyJWT,
}

func (c *Connector) buildOAuthHandler(ctx context.Context) (*oauth.Handler, error) {
	a := c.cfg.Auth
	cfg := oauth.Config{
		ServerName:             c.cfg.Name,
		ServerURL:              c.cfg.URL,
		AllowInsecureLocalhost: a.AllowInsecureLocalhost,
		Logger:                 c.opts.Logger, // the handler names its server itself
		Scopes:                 a.Scopes,
		ClientMetadataURL:      a.ClientMetadataURL,
		Now:                    c.opts.Now,
	}
	if a.DPoP {
		cfg.DPoP = oauth.DPoPAuto
	}
	// The handler fetches metadata from the server's own origin, which may
	// want the client certificate and trust only the CA bundle. Read once,
	// with the handler: a renewed certificate reaches the OAuth fetches
	// when the connector is made anew (the MCP connection reads it at
	// every connect).
	ct, err := c.clientTLS(ctx)
	if err != nil {
		return nil, err
	}
	cfg.TLS, cfg.RootCAs = ct.oauthTLS()
	switch {
	case c.opts.TokenStore != nil:
		cfg.Store = c.opts.TokenStore
	default:
		if w, ok := c.opts.Secrets.(SecretWriter); ok {
			store := NewTokenStore(c.cfg.Name, w)
			cfg.Store = store
			if a.DPoP {
				// A DPoP-bound token is useless without its key; keeping the
				// key beside the token lets the next process use both.
				key, err := store.DPoPKey(ctx, c.cfg.Name)
				if err != nil {
					return nil, c.newError(KindAuth, fmt.Errorf("auth: the DPoP key: %w", err))
				}
				cfg.DPoPKey = key
			}
		} else {
			c.log.Debug("oauth tokens are kept in memory only: the secret source cannot store them")
		}
	}

	client, err := c.oauthClient(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Client = client
	if dir := c.opts.LockDir; dir != "" {
		cfg.RefreshLock = func(ctx context.Context, server string) (func(), error) {
			return filelock.LockPath(ctx, filepath.Join(dir, "oauth-refresh-"+server+".lock"))
		}
	}

	switch a.Type {
	case AuthOAuth:
		cfg.Grant = oauth.GrantAuthorizationCode
		cfg.RedirectURL = a.RedirectURL
		cfg.RequestOfflineAccess = true
		if l := c.opts.Login; l != nil {
			cfg.SkipStoredToken = true
			switch {
			case l.Device != nil:
				cfg.Device = l.Device
			case l.Fetcher != nil:
				cfg.Fetcher = l.Fetcher
			default:
				cfg.Fetcher = &oauth.LoopbackFetcher{Open: l.OpenURL, Timeout: c.cfg.Timeout}
			}
		}
	case AuthClientCredentials:
		cfg.Grant = oauth.GrantClientCredentials
	case AuthJWTBearer:
		cfg.Grant = oauth.GrantJWTBearer
		cfg.Assertion = c.secretOrFile(a.Assertion, a.AssertionFile, "the workload identity JWT")
	case AuthEnterprise:
		cfg.Grant = oauth.GrantEnterprise
		e := &oauth.EnterpriseConfig{TokenEndpoint: a.IdPTokenEndpoint, ClientID: a.IdPClientID}
		if a.IdPClientSecret != "" {
			if e.ClientSecret, err = c.fetchSecret(ctx, a.IdPClientSecret); err != nil {
				return nil, err
			}
		}
		e.IDToken = c.secretOrFile(a.IDToken, "", "the SSO ID token")
		cfg.Enterprise = e
	}
	h, err := oauth.New(cfg)
	if err != nil {
		// oauth.New's errors start with "oauth:" and name no server; the
		// *Error names it.
		return nil, c.newError(KindConfig, err)
	}
	return h, nil
}

// oauthClient is the configured client, if any, with its credential from
// the keyring.
func (c *Connector) oauthClient(ctx context.Context) (*oauth.ClientConfig, error) {
	a := c.cfg.Auth
	if a.ClientID == "" && a.ClientSecret == "" && a.PrivateKey == "" {
		return nil, nil
	}
	cc := &oauth.ClientConfig{ClientID: a.ClientID, Issuer: a.Issuer, AuthMethod: configAuthMethods[a.AuthMethod]}
	var err error
	if a.ClientSecret != "" {
		if cc.ClientSecret, err = c.fetchSecret(ctx, a.ClientSecret); err != nil {
			return nil, err
		}
	}
	if a.PrivateKey != "" {
		pemKey, err := c.fetchSecret(ctx, a.PrivateKey)
		if err != nil {
			return nil, err
		}
		if cc.Key, err = oauth.ParseSigningKey(pemKey, a.SigningAlg); err != nil {
			return nil, c.newError(KindConfig, fmt.Errorf("auth.private_key: keyring item %q: %w", a.PrivateKey, err))
		}
	}
	return cc, nil
}

// secretOrFile reads a credential anew for every token request: from a
// keyring item or from a file (a platform rotates projected tokens there).
func (c *Connector) secretOrFile(item, file, what string) func(context.Context) (credentials.Secret, error) {
	return func(ctx context.Context) (credentials.Secret, error) {
		if item != "" {
			return c.fetchSecret(ctx, item)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return credentials.Secret{}, fmt.Errorf("reading %s: %w", what, err)
		}
		s := credentials.NewSecret(strings.TrimSpace(string(b)))
		if s.IsZero() {
			return credentials.Secret{}, fmt.Errorf("%s in %s is empty", what, file)
		}
		c.redactor.Add(s)
		return s, nil
	}
}

// loginAuthorizer lets a login involve the user once. go-sdk may run the
// authorization more than once while connecting (a discovery request and
// the initialize fallback each get a 401); after a failed attempt the later
// runs get its outcome instead of a second browser tab or device code.
type loginAuthorizer struct {
	*oauth.Handler
	mu  sync.Mutex
	err error
}

func (l *loginAuthorizer) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		resp.Body.Close()
		return l.err
	}
	err := l.Handler.Authorize(ctx, req, resp)
	if err != nil && ctx.Err() == nil {
		l.err = err
	}
	return err
}
