// Package auth implements `mediator auth`: logging in to OAuth servers
// (browser or device grant), showing what is stored for each server, and
// logging out. Tokens live in the keyring as items of their own server and
// are never printed.
package auth

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
)

// NewCmdAuth returns `mediator auth` and its verbs.
func NewCmdAuth(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth <command>",
		Short: "Log in to OAuth servers, show and remove their stored logins",
		Long: `Servers with auth type oauth act for you: log in once with
'mediator auth login SERVER' and mediator keeps the token in the keyring,
refreshes it, and sends it to that server only. The machine types
(client-credentials, jwt-bearer, enterprise) need no login; they get their
tokens when they connect.`,
	}
	cmd.AddCommand(NewCmdLogin(f, nil), NewCmdStatus(f, nil), NewCmdLogout(f, nil))
	return cmd
}

// deps is what every auth verb needs.
type deps struct {
	IO          *iostreams.IOStreams
	Config      func() (*config.Config, error)
	Secrets     func(context.Context, *config.Config) (*credentials.Store, error)
	Logger      func() *slog.Logger
	OpenBrowser func(ctx context.Context, url string) error
	Version     string
}

func newDeps(f *cmdutil.Factory) deps {
	return deps{IO: f.IOStreams, Config: f.Config, Secrets: f.Secrets, Logger: f.Logger, OpenBrowser: f.OpenBrowser, Version: f.Version}
}

// connectorOptions are the options of a connector to server s outside an
// orchestrator (login, logout), with its keyring items from store.
func (d deps) connectorOptions(cfg *config.Config, s *config.Server, store *credentials.Store) connectors.Options {
	return connectors.Options{
		Config:     cfg.ServerConfigs(s.Name)[0].Config,
		Secrets:    store.ForServer(s.Name),
		Logger:     d.Logger(), // the connector adds the server attribute itself
		ClientInfo: &mcp.Implementation{Name: "mediator", Version: d.Version},
		LockDir:    cfg.LockDir(),
	}
}

// noLoginHint says why a server of another auth type needs no login, and
// what it needs instead.
func noLoginHint(s *config.Server) string {
	switch s.Auth.Type {
	case connectors.AuthAPIKey, connectors.AuthBearer:
		return fmt.Sprintf("it authenticates with keyring item %q (store it with `mediator secret set %s %s`)", s.Auth.Secret, s.Name, s.Auth.Secret)
	case connectors.AuthMTLS:
		return "it authenticates with its TLS client certificate"
	case "", connectors.AuthNone:
		if s.URL == "" {
			return "it is a stdio server, which gets its secrets through secret_env"
		}
		return "its config sets no auth (set auth: {type: oauth} if it asks for a login)"
	}
	return "it needs no login"
}

// completeOAuthServers completes server names whose auth type has logins.
func completeOAuthServers(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, s := range cfg.Servers {
			if s.Auth.IsOAuth() {
				out = append(out, s.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
