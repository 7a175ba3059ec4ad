package serve

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/serve"
)

// TokenOptions of `mediator serve token create`.
type TokenOptions struct {
	IO *iostreams.IOStreams
	// Rand is where the token's bytes come from (crypto/rand.Reader).
	Rand      io.Reader
	Name      string
	Tools     []string
	Workflows []string
}

// tokenPrefix marks mediator's serve tokens, so that a leaked one is
// recognisable (and secret scanners can learn it).
const tokenPrefix = "mdt_"

// tokenBytes is the token's entropy: 256 bits.
const tokenBytes = 32

func newCmdToken(f *cmdutil.Factory) *cobra.Command {
	token := &cobra.Command{
		Use:   "token <command>",
		Short: "Make bearer tokens for mediator serve --http",
	}
	token.AddCommand(NewCmdTokenCreate(f, nil))
	return token
}

// NewCmdTokenCreate returns `mediator serve token create NAME`.
func NewCmdTokenCreate(f *cmdutil.Factory, runF func(context.Context, *TokenOptions) error) *cobra.Command {
	opts := &TokenOptions{IO: f.IOStreams, Rand: rand.Reader}
	cmd := &cobra.Command{
		Use:   "create NAME [--tools GLOB]... [--workflows GLOB]...",
		Short: "Print a new bearer token once, and the config lines that accept it",
		Long: `Prints a new random token on stdout, once: give it to the host (its
Authorization: Bearer header). mediator never stores it; the lines to add
under serve.http.tokens, printed on stderr, hold only its SHA-256 and its
scope: --tools globs on the tool (and prompt, resource) names the host sees,
e.g. 'weather__*', and --workflows globs on workflow tools' names. A call
outside the scope is refused. To revoke a token, delete its entry.`,
		Example: `  mediator serve token create ci --tools 'weather__*' --workflows 'rain-*'
  mediator serve token create laptop --tools '*'`,
		Args: cmdutil.ExactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if len(opts.Tools) == 0 && len(opts.Workflows) == 0 {
				return cmdutil.UsageErrorf("a token with no scope could call nothing: give --tools GLOB (e.g. 'weather__*', or '*' for every tool) and/or --workflows GLOB")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return tokenCreateRun(opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Tools, "tools", nil, "`GLOB` on the tool names the token may call, e.g. 'weather__*' (repeatable)")
	cmd.Flags().StringArrayVar(&opts.Workflows, "workflows", nil, "`GLOB` on the workflow tools the token may run (repeatable)")
	return cmd
}

// NewToken makes a bearer token from r's bytes (crypto/rand.Reader):
// mdt_ and 256 random bits, for serve.http.tokens and daemon.api_tokens.
func NewToken(r io.Reader) (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("making a token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

func tokenCreateRun(opts *TokenOptions) error {
	token, err := NewToken(opts.Rand)
	if err != nil {
		return err
	}
	t := serve.Token{Name: opts.Name, SHA256: serve.HashToken(token), Tools: opts.Tools, Workflows: opts.Workflows}
	if err := serve.ValidateToken(t); err != nil {
		return cmdutil.UsageErrorf("%v", err)
	}
	fmt.Fprintln(opts.IO.Out, token)
	fmt.Fprintf(opts.IO.ErrOut, `Add under serve.http.tokens in the config (the token above is shown only now):

serve:
  http:
    tokens:
%s
`, TokenYAML(t, "      "))
	return nil
}

// TokenYAML is t's entry in a list of tokens, each line led by indent.
func TokenYAML(t serve.Token, indent string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s- name: %s\n%s  token_sha256: %s\n", indent, strconv.Quote(t.Name), indent, t.SHA256)
	for _, l := range []struct {
		key   string
		globs []string
	}{{"tools", t.Tools}, {"workflows", t.Workflows}} {
		if len(l.globs) == 0 {
			continue
		}
		q := make([]string, len(l.globs))
		for i, g := range l.globs {
			q[i] = strconv.Quote(g)
		}
		fmt.Fprintf(&b, "%s  %s: [%s]\n", indent, l.key, strings.Join(q, ", "))
	}
	return strings.TrimRight(b.String(), "\n")
}
