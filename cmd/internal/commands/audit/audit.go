// Package audit implements `mediator audit`.
package audit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/orchestrator"
)

// NewCmdAudit returns `mediator audit` and its verbs.
func NewCmdAudit(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit <command>",
		Short: "Check the audit log",
	}
	cmd.AddCommand(NewCmdVerify(f, nil))
	return cmd
}

// VerifyOptions of `mediator audit verify`.
type VerifyOptions struct {
	IO     *iostreams.IOStreams
	Config func() (*config.Config, error)
	// File is --file; empty means the config's audit.path.
	File string
}

// NewCmdVerify returns `mediator audit verify`.
func NewCmdVerify(f *cmdutil.Factory, runF func(context.Context, *VerifyOptions) error) *cobra.Command {
	opts := &VerifyOptions{IO: f.IOStreams, Config: f.Config}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain",
		Long: `Checks every record of the audit log against its hash and the chain
between records, which shows edited, deleted, inserted and reordered
records. Exits 0 when the chain is intact, 2 when it is broken or the file
cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return verifyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.File, "file", "", "audit log to verify (default: audit.path from the config)")
	return cmd
}

func verifyRun(_ context.Context, opts *VerifyOptions) error {
	path := opts.File
	if path == "" {
		cfg, err := opts.Config()
		if err != nil {
			return err
		}
		path = cfg.Audit.Path
	}
	n, err := orchestrator.VerifyAuditFile(path)
	if err != nil {
		if opts.File == "" && errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(opts.IO.ErrOut, "no audit log yet at %s: no call has been made\n", path)
			return nil
		}
		var ve *orchestrator.AuditVerifyError
		if errors.As(err, &ve) {
			return cmdutil.Errorf(cmdutil.ExitUsage, "%v (%d intact records before it)", err, n)
		}
		return err
	}
	_, err = fmt.Fprintf(opts.IO.Out, "OK: %d records, hash chain intact (%s)\n", n, path)
	return err
}
