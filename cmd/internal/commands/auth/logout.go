package auth

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/connectors"
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
		Short: "Remove a server's stored tokens and client registrations from the keyring",
		Long: `Removes every OAuth token, client registration and DPoP key mediator
stored for SERVER. The server's other keyring items (secrets you stored with
'mediator secret set') stay. The next call to SERVER needs a new login.`,
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
