package secret

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/credentials"
)

// RemoveOptions of `mediator secret rm`.
type RemoveOptions struct {
	deps
	Server, Name string
}

// NewCmdRemove returns `mediator secret rm SERVER NAME`.
func NewCmdRemove(f *cmdutil.Factory, runF func(context.Context, *RemoveOptions) error) *cobra.Command {
	opts := &RemoveOptions{deps: newDeps(f)}
	return &cobra.Command{
		Use:     "rm SERVER NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a server's secret from the keyring",
		Args:    cmdutil.ExactArgs(2, "SERVER NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server, opts.Name = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return removeRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
}

func removeRun(ctx context.Context, opts *RemoveOptions) error {
	if err := checkNames(opts.Server, opts.Name); err != nil {
		return err
	}
	store, err := opts.open(ctx, opts.Server)
	if err != nil {
		return err
	}
	if err := store.Remove(opts.Server, opts.Name); err != nil {
		if errors.Is(err, credentials.ErrNotFound) {
			return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
		}
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Removed secret %q of server %q from the %s\n", opts.Name, opts.Server, describe(store))
	return nil
}
