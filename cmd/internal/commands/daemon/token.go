package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	servecmd "github.com/mediatorhq/mediator/cmd/internal/commands/serve"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/serve"
)

// TokenOptions of `mediator daemon token create`.
type TokenOptions struct {
	IO *iostreams.IOStreams
	// Rand is where the token's bytes come from (crypto/rand.Reader).
	Rand      io.Reader
	Name      string
	Workflows []string
}

func newCmdToken(f *cmdutil.Factory) *cobra.Command {
	token := &cobra.Command{
		Use:   "token <command>",
		Short: "Make bearer tokens for the daemon's run API",
	}
	token.AddCommand(NewCmdTokenCreate(f, nil))
	return token
}

// NewCmdTokenCreate returns `mediator daemon token create NAME`.
func NewCmdTokenCreate(f *cmdutil.Factory, runF func(context.Context, *TokenOptions) error) *cobra.Command {
	opts := &TokenOptions{IO: f.IOStreams, Rand: rand.Reader}
	cmd := &cobra.Command{
		Use:   "create NAME --workflows GLOB...",
		Short: "Print a new API token once, and the config lines that accept it",
		Long: `Prints a new random token on stdout, once: give it to the client (its
Authorization: Bearer header on /v1). mediator never stores it; the lines
to add under daemon.api_tokens, printed on stderr, hold only its SHA-256
and its scope: --workflows globs on the workflow names it may list and
run, e.g. 'rain-*'. To revoke a token, delete its entry and reload the
daemon (SIGHUP).`,
		Example: `  mediator daemon token create ci --workflows 'rain-*'
  mediator daemon token create ops --workflows '*'`,
		Args: cmdutil.ExactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if len(opts.Workflows) == 0 {
				return cmdutil.UsageErrorf("a token with no scope could run nothing: give --workflows GLOB (e.g. 'rain-*', or '*' for every workflow)")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return tokenCreateRun(opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Workflows, "workflows", nil, "`GLOB` on the workflow names the token may run (repeatable)")
	return cmd
}

func tokenCreateRun(opts *TokenOptions) error {
	token, err := servecmd.NewToken(opts.Rand)
	if err != nil {
		return err
	}
	t := serve.Token{Name: opts.Name, SHA256: serve.HashToken(token), Workflows: opts.Workflows}
	if err := serve.ValidateToken(t); err != nil {
		return cmdutil.UsageErrorf("%v", err)
	}
	fmt.Fprintln(opts.IO.Out, token)
	fmt.Fprintf(opts.IO.ErrOut, `Add under daemon.api_tokens in the config, then reload the daemon (the token above is shown only now):

daemon:
  api_tokens:
%s
`, servecmd.TokenYAML(t, "    "))
	return nil
}
