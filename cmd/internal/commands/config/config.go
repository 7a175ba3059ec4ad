// Package config implements `mediator config`.
package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	mconfig "github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
)

// NewCmdConfig returns `mediator config` and its verbs.
func NewCmdConfig(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config <command>",
		Short: "Check the config file",
	}
	cmd.AddCommand(NewCmdValidate(f, nil))
	return cmd
}

// ValidateOptions of `mediator config validate`.
type ValidateOptions struct {
	IO     *iostreams.IOStreams
	Config func() (*mconfig.Config, error)
}

// NewCmdValidate returns `mediator config validate`.
func NewCmdValidate(f *cmdutil.Factory, runF func(context.Context, *ValidateOptions) error) *cobra.Command {
	opts := &ValidateOptions{IO: f.IOStreams, Config: f.Config}
	return &cobra.Command{
		Use:   "validate",
		Short: "Report every problem in the config file at once",
		Long: `Reads the config file (--config, $MEDIATOR_CONFIG or the default) and
reports every problem in it, one per line as FILE:LINE:COL: FIELD: PROBLEM,
with the valid choices. Exits 2 if there is any (see ` + "`mediator help exit-codes`" + `).
Other commands refuse a server whose entry has a problem only when they
need that server; a problem elsewhere in the file stops them all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return validateRun(cmd.Context(), opts)
		},
	}
}

func validateRun(_ context.Context, opts *ValidateOptions) error {
	cfg, err := opts.Config()
	var ps mconfig.Problems
	switch {
	case errors.As(err, &ps):
	case err != nil:
		return err
	default:
		// Problems of single servers, which other commands let pass for
		// the servers they do not use.
		ps = cfg.Problems()
	}
	if len(ps) > 0 {
		for _, p := range ps {
			fmt.Fprintln(opts.IO.ErrOut, p)
		}
		noun := "problems"
		if len(ps) == 1 {
			noun = "problem"
		}
		fmt.Fprintf(opts.IO.ErrOut, "%d %s in %s\n", len(ps), noun, ps[0].File)
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: ps, Silent: true}
	}
	if !cfg.Found {
		fmt.Fprintf(opts.IO.ErrOut, "no config file at %s; an empty config is valid\n", cfg.Path)
	}
	noun := "servers"
	if len(cfg.Servers) == 1 {
		noun = "server"
	}
	_, err = fmt.Fprintf(opts.IO.Out, "OK: %d %s in %s\n", len(cfg.Servers), noun, cfg.Path)
	return err
}
