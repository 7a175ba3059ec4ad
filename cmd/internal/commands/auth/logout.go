package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// LogoutOptions of `mediator auth logout`.
type LogoutOptions struct {
	deps
	Server string
}

// NewCmdLogout returns `mediator auth logout SERVER`.
func NewCmdLogout(f *cmdutil.Factory, runF func(context.Context, *LogoutOptions) error) *cobra.Command {
	opts := &LogoutOptions{deps: newDeps(f)}
	return &cobra.Command{
		Use:   "logout SERVER",
		Short: "Revoke a server's tokens and remove them and its client registrations from the keyring",
		Long: `Asks the authorization server to revoke SERVER's stored tokens (RFC 7009),
when it offers a revocation endpoint, then removes every OAuth token, client
registration and DPoP key mediator stored for SERVER. A revocation that
fails is reported and the tokens are removed all the same; they then stay
valid at the authorization server until they expire.

The server's other keyring items (secrets you stored with 'mediator secret
set') stay. The next call to SERVER needs a new login.`,
		Args: cmdutil.ExactArgs(1, "SERVER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return logoutRun(cmd.Context(), opts)
		},
		ValidArgsFunction: completeOAuthServers(f),
	}
}

func logoutRun(ctx context.Context, opts *LogoutOptions) error {
	if err := orchestrator.ValidateServerName(opts.Server); err != nil {
		return cmdutil.UsageErrorf("%v", err)
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	// A server removed from the config may still have tokens to clear.
	if _, ok := cfg.Server(opts.Server); !ok {
		fmt.Fprintf(opts.IO.ErrOut, "warning: server %q is not in the config (%s); removing its stored logins anyway\n", opts.Server, cfg.Path)
	}
	store, err := opts.Secrets(ctx, cfg)
	if err != nil {
		return err
	}
	ts := connectors.NewTokenStore(opts.Server, store.ForServer(opts.Server))
	inv, err := ts.Inventory(ctx, opts.Server)
	if err != nil {
		return err
	}
	if s, ok := cfg.Server(opts.Server); ok && len(inv.Logins) > 0 {
		if err := s.Err(); err != nil {
			// Its auth settings cannot be trusted to name the issuer.
			fmt.Fprintf(opts.IO.ErrOut, "warning: server %q has problems in the config, so its tokens are not revoked at the issuer, only removed here:\n%v\n", opts.Server, err)
		} else {
			revokeAll(ctx, opts, cfg, s, store)
		}
	}
	if err := ts.Forget(ctx, opts.Server); err != nil {
		return err
	}
	if len(inv.Logins)+len(inv.Clients) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "Server %q had no stored login\n", opts.Server)
		return nil
	}
	regs, pins := 0, 0
	for _, c := range inv.Clients {
		if c.Configured {
			pins++
		} else {
			regs++
		}
	}
	msg := fmt.Sprintf("Logged out of %s: removed %d token set(s) and %d client registration(s)", opts.Server, len(inv.Logins), regs)
	if pins > 0 {
		// The configured client's binding to the authorization server it
		// was first used with: the next login binds it anew.
		msg += fmt.Sprintf(" and the authorization server binding of %d configured client(s)", pins)
	}
	fmt.Fprintln(opts.IO.ErrOut, msg+" from the keyring")
	return nil
}

// revokeTimeout bounds asking the authorization servers to revoke: a
// logout must not wait long on a server that is down.
const revokeTimeout = 15 * time.Second

// revokeAll has the authorization servers revoke the server's stored
// tokens and says, per login, what came of it. Failures are reported, not
// returned: the tokens are removed from the keyring either way.
func revokeAll(ctx context.Context, opts *LogoutOptions, cfg *config.Config, s *config.Server, store *credentials.Store) {
	if !s.Auth.IsOAuth() {
		return
	}
	w := opts.IO.ErrOut
	c, err := connectors.New(opts.connectorOptions(cfg, s, store))
	if err != nil {
		fmt.Fprintf(w, "warning: not revoking the tokens of %s: %v\n", s.Name, err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	revs, err := c.RevokeOAuth(ctx)
	if err != nil {
		fmt.Fprintf(w, "warning: not revoking the tokens of %s: %v\n", s.Name, err)
		return
	}
	for _, r := range revs {
		switch {
		case errors.Is(r.Err, oauth.ErrNoRevocationEndpoint):
			fmt.Fprintf(w, "note: %s offers no token revocation (RFC 7009): the tokens are removed here and stay valid there until they expire\n", r.Issuer)
		case r.Err != nil:
			fmt.Fprintf(w, "warning: could not revoke at %s: %v; the tokens are removed here and stay valid there until they expire\n", r.Issuer, r.Err)
		case len(r.Revoked) > 0:
			fmt.Fprintf(w, "Revoked at %s: %s\n", r.Issuer, strings.ReplaceAll(strings.Join(r.Revoked, ", "), "_", " "))
		}
	}
}
