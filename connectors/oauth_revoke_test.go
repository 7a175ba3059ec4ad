package connectors

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
	"github.com/mediatorhq/mediator/credentials"
)

// loggedIn logs server "github" of as in, as `mediator auth login` does,
// into a keyring of its own.
func loggedIn(t *testing.T, as *oauthtest.Server) (*credentials.Store, Config) {
	t.Helper()
	ring := fileKeyring(t)
	cfg := oauthConfig(t, "github", as)
	login := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("github"), Login: browserLogin(t)})
	if err := login.Connect(testCtx(t)); err != nil {
		t.Fatalf("login: %v", err)
	}
	_ = login.Close()
	return ring, cfg
}

// Logout's revocation: a fresh connector (another process), without
// connecting, has the authorization server take back the stored refresh
// and access tokens, authenticating as the client that got them; a later
// connect then needs a new login even though the tokens were not yet
// forgotten.
func TestOAuthRevoke(t *testing.T) {
	for _, confidential := range []bool{false, true} {
		name := map[bool]string{false: "public client", true: "confidential client"}[confidential]
		t.Run(name, func(t *testing.T) {
			as := oauthtest.New(t)
			as.Revocation = true
			as.TokenPrefix = "canary-tok-"
			if confidential {
				as.ClientSecret = "dcr-secret"
			}
			ring, cfg := loggedIn(t, as)
			ctx := testCtx(t)

			c := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("github")})
			revs, err := c.RevokeOAuth(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(revs) != 1 || revs[0].Err != nil || !slices.Equal(revs[0].Revoked, []string{"refresh_token", "access_token"}) ||
				revs[0].Issuer != as.Issuer() || revs[0].ClientID != oauthtest.DCRClientID {
				t.Fatalf("revocations %+v", revs)
			}
			as.Mu.Lock()
			revoked := slices.Clone(as.Revoked)
			as.Mu.Unlock()
			if len(revoked) != 2 || !strings.HasPrefix(revoked[0], "refresh_token "+oauthtest.DCRClientID+" canary-tok-rt-") ||
				!strings.HasPrefix(revoked[1], "access_token "+oauthtest.DCRClientID+" canary-tok-at-") {
				t.Errorf("the authorization server revoked %q", revoked)
			}

			again := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("github")})
			if err := again.Connect(ctx); err == nil || kindOf(t, err) != KindAuth {
				t.Errorf("connect with revoked tokens: %v", err)
			}
		})
	}
}

// An authorization server without a revocation endpoint is reported, and
// nothing is sent anywhere.
func TestOAuthRevokeWithoutEndpoint(t *testing.T) {
	ring, cfg := loggedIn(t, oauthtest.New(t))
	ctx := testCtx(t)
	revs, err := mustNew(t, Options{Config: cfg, Secrets: ring.ForServer("github")}).RevokeOAuth(ctx)
	if err != nil || len(revs) != 1 || !errors.Is(revs[0].Err, oauth.ErrNoRevocationEndpoint) || len(revs[0].Revoked) != 0 {
		t.Fatalf("revocations %+v, %v", revs, err)
	}
}
