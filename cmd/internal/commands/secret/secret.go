// Package secret implements `mediator secret`: each server's credentials
// in the OS keyring, one item per (server, name). Values go in through a
// no-echo prompt or stdin, never argv, and never come out.
package secret

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/orchestrator"
)

// NewCmdSecret returns `mediator secret` and its verbs.
func NewCmdSecret(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret <command>",
		Short: "Store, list and remove server credentials in the OS keyring",
		Long: `Each server's credentials live in the OS keyring, one item per server and
name. The config refers to them by name (auth.secret, secret_env); the
values never appear in the config, in argv, or in any output.

The chat model's API key lives under the reserved name llm, which is not a
server: mediator secret set llm api_key (see llm.api_key_secret).

The file backend encrypts with a passphrase from $MEDIATOR_KEYRING_PASSPHRASE,
or asks for it on a terminal.

Exits 2 for a bad server or secret name or a secret that is not there, 3
when the keyring refuses the passphrase (see ` + "`mediator help exit-codes`" + `).`,
	}
	cmd.AddCommand(NewCmdSet(f, nil), NewCmdList(f, nil), NewCmdRemove(f, nil))
	return cmd
}

// deps is what every secret verb needs.
type deps struct {
	IO      *iostreams.IOStreams
	Config  func() (*config.Config, error)
	Secrets func(context.Context, *config.Config) (*credentials.Store, error)
}

func newDeps(f *cmdutil.Factory) deps {
	return deps{IO: f.IOStreams, Config: f.Config, Secrets: f.Secrets}
}

// open loads the config (for the backend) and opens the keyring, warning
// when server is not one the config knows (or llm, the reserved name of the
// chat model's key): storing a secret before adding the server is fine, a
// typo is worth a word.
func (d deps) open(ctx context.Context, server string) (*credentials.Store, error) {
	cfg, err := d.Config()
	if err != nil {
		return nil, err
	}
	// llm is no server: the chat model's key lives under it (llm.api_key_secret).
	if server != "" && server != config.LLMSecretServer {
		if _, ok := cfg.Server(server); !ok {
			where := cfg.Path
			if !cfg.Found {
				where += ", which does not exist yet"
			}
			fmt.Fprintf(d.IO.ErrOut, "warning: server %q is not in the config (%s)%s\n", server, where, hint(server, cfg.ServerNames()))
		}
	}
	return d.Secrets(ctx, cfg)
}

func hint(word string, names []string) string {
	for _, n := range names {
		if n == word {
			return ""
		}
	}
	if c := suggest.Closest(word, names); c != "" {
		return fmt.Sprintf("; did you mean %q?", c)
	}
	return ""
}

func checkNames(server, name string) error {
	if err := orchestrator.ValidateServerName(server); err != nil {
		return cmdutil.UsageErrorf("%v", err)
	}
	if name == "" {
		return nil
	}
	if err := credentials.ValidateName("secret name", name); err != nil {
		return cmdutil.UsageErrorf("%v", err)
	}
	// The one way a value could end up in argv is being typed as the name.
	if config.SecretLikeValue(name) {
		return cmdutil.UsageErrorf("the secret name looks like a secret value; give a name such as api-key or token, and the value on the prompt or stdin (never on the command line)")
	}
	return nil
}

func describe(store *credentials.Store) string {
	if loc := store.Location(); loc != "" {
		return fmt.Sprintf("%s keyring (%s)", store.Backend(), loc)
	}
	return store.Backend() + " keyring"
}
