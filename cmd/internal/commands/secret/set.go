package secret

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/credentials"
)

// maxSecretSize bounds what stdin may hand in; a credential is small and a
// mistaken pipe of a large file should fail, not land in the keyring.
const maxSecretSize = 64 << 10

// SetOptions of `mediator secret set`.
type SetOptions struct {
	deps
	// Prompt reads a value from the terminal without echo.
	Prompt       func(prompt string) (string, error)
	Server, Name string
}

// NewCmdSet returns `mediator secret set SERVER NAME`.
func NewCmdSet(f *cmdutil.Factory, runF func(context.Context, *SetOptions) error) *cobra.Command {
	opts := &SetOptions{deps: newDeps(f), Prompt: f.Prompt}
	return &cobra.Command{
		Use:   "set SERVER NAME",
		Short: "Store a server's secret (value from a no-echo prompt or stdin)",
		Long: `Stores the secret NAME of server SERVER in the keyring, replacing any
earlier value. On a terminal the value is asked for without echo; otherwise
it is read from stdin, minus one trailing newline. It is never taken from
the command line, where other processes and shell history would see it.`,
		Example: `  mediator secret set weather api-key
  printf %s "$TOKEN" | mediator secret set calendar token`,
		Args: cmdutil.ExactArgs(2, "SERVER NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server, opts.Name = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return setRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
}

func setRun(ctx context.Context, opts *SetOptions) error {
	if err := checkNames(opts.Server, opts.Name); err != nil {
		return err
	}
	// Open first: the passphrase prompt comes before the value prompt, and
	// nobody types a secret into a keyring that then fails to open.
	store, err := opts.open(ctx, opts.Server)
	if err != nil {
		return err
	}
	value, err := readValue(opts)
	if err != nil {
		return err
	}
	if err := store.Set(opts.Server, opts.Name, value); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Stored secret %q of server %q in the %s\n", opts.Name, opts.Server, describe(store))
	return nil
}

func readValue(opts *SetOptions) (credentials.Secret, error) {
	var value string
	if opts.IO.IsStdinTTY() {
		v, err := opts.Prompt(fmt.Sprintf("Value of %s/%s (input hidden)", opts.Server, opts.Name))
		if err != nil {
			return credentials.Secret{}, err
		}
		value = v
	} else {
		b, err := io.ReadAll(io.LimitReader(opts.IO.In, maxSecretSize+1))
		if err != nil {
			return credentials.Secret{}, fmt.Errorf("reading the secret from stdin: %w", err)
		}
		if len(b) > maxSecretSize {
			return credentials.Secret{}, cmdutil.UsageErrorf("stdin holds more than %d KiB, which is no credential; pipe in only the value", maxSecretSize>>10)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		value = string(b)
	}
	if strings.TrimSpace(value) == "" {
		return credentials.Secret{}, cmdutil.UsageErrorf("the value is empty; nothing was stored (pipe the value into stdin, or run in a terminal to be asked for it)")
	}
	return credentials.NewSecret(value), nil
}
