package commands_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/auth"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/connectors/oauth/oauthtest"
)

// auth.Login is `auth login` as a function (the chat's `/auth login`): it
// talks to the user on the writer it is given, not on stderr, and the
// login it makes is the command's (calls work afterwards).
func TestAuthLoginAsAFunction(t *testing.T) {
	e := newTestEnv(t)
	as := newOAuthServer(t, e)
	e.writeConfig("servers:\n" + oauthServerYAML(t, "github", as))

	ios, _, _, errOut := iostreams.Test()
	f := cmdutil.New(ios, "test", func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok })
	var (
		opened []string
		wg     sync.WaitGroup
	)
	f.OpenBrowser = func(_ context.Context, u string) error {
		opened = append(opened, u)
		wg.Go(func() {
			if err := oauthtest.Visit(t.Context(), u); err != nil {
				t.Errorf("browser: %v", err)
			}
		})
		return nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var msgs bytes.Buffer
	if err := auth.Login(ctx, f, "github", &msgs); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(opened) != 1 || !strings.Contains(msgs.String(), opened[0]) || !strings.Contains(msgs.String(), "Logged in to github") {
		t.Errorf("opened %v; messages:\n%s", opened, msgs.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("the login wrote to stderr, which the chat's screen owns:\n%s", errOut.String())
	}
	for _, c := range e.canary {
		if strings.Contains(msgs.String(), c) {
			t.Errorf("the login's messages hold a secret: %s", msgs.String())
		}
	}
	e.mustRun("", "call", "github", "whoami")

	// An unknown server is an error naming the configured ones.
	err := auth.Login(ctx, f, "githb", &msgs)
	if err == nil || !strings.Contains(err.Error(), "github") {
		t.Errorf("unknown server: %v", err)
	}
}
