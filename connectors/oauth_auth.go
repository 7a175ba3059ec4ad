package connectors

import (
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mediatorhq/mediator/connectors/oauth"
)

// NewOAuthAuthenticator puts an OAuth handler (authorization code, client
// credentials, workload identity, enterprise) on the connector's auth seam.
// On the streamable transport the handler drives everything through
// OAuthHandler; Authenticate only fills in the current token where the
// transport has no OAuth hook (legacy SSE). When the handler binds tokens
// with DPoP, pass h.Transport(base) as Options.BaseTransport as well.
func NewOAuthAuthenticator(h *oauth.Handler) OAuthAuthenticator {
	return oauthAuthenticator{h: h}
}

type oauthAuthenticator struct{ h *oauth.Handler }

func (a oauthAuthenticator) OAuthHandler() auth.OAuthHandler { return a.h }

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
