package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// serverDeps are what the verbs on one server's tools (accept, diff) take
// from the Factory.
type serverDeps struct {
	IO           *iostreams.IOStreams
	Config       func() (*config.Config, error)
	Orchestrator func(context.Context, *config.Config, ...string) (*orchestrator.Orchestrator, error)
	// Redactor is read after the orchestrator opened the keyring.
	Redactor func() *credentials.Redactor
}

func newServerDeps(f *cmdutil.Factory) serverDeps {
	return serverDeps{IO: f.IOStreams, Config: f.Config, Orchestrator: f.Orchestrator,
		Redactor: func() *credentials.Redactor { return f.Redactor }}
}

// open checks that server is configured and opens an orchestrator over it
// alone; the caller closes it.
func (d serverDeps) open(ctx context.Context, server string) (*orchestrator.Orchestrator, error) {
	cfg, err := d.Config()
	if err != nil {
		return nil, err
	}
	if _, err := cmdutil.CheckServer(cfg, server); err != nil {
		return nil, err
	}
	return d.Orchestrator(ctx, cfg, server)
}

// AcceptOptions of `mediator tools accept`.
type AcceptOptions struct {
	serverDeps
	// CanPrompt reports whether the user can be asked (a terminal, and
	// prompts not forbidden).
	CanPrompt func() bool
	Server    string
	Tool      string
	Digest    string
	Yes       bool
	JSON      bool
}

// NewCmdAccept returns `mediator tools accept SERVER [TOOL]`.
func NewCmdAccept(f *cmdutil.Factory, runF func(context.Context, *AcceptOptions) error) *cobra.Command {
	opts := &AcceptOptions{serverDeps: newServerDeps(f),
		CanPrompt: func() bool { return f.IOStreams.IsStdinTTY() && !f.NoPrompt }}
	cmd := &cobra.Command{
		Use:   "accept SERVER [TOOL]",
		Short: "Accept the changes to a server's tools that you reviewed (re-pin them)",
		Long: `Mediator pins each tool's whole definition. When a server changes a tool
(its title, description, schemas, annotations, _meta or icons) or adds one,
calls to it are refused until you have looked at the change and accepted it
here. With TOOL, only that tool's change is accepted; the others stay
refused.

With --digest, the digest "mediator tools diff" printed, exactly the changes
it showed are accepted; if the server offers anything else by now, nothing
is, and the command fails. This is the way to accept from a script.

Without --digest, the changes are listed and shown first, as tools diff
shows them; on a terminal you are then asked to confirm (--yes skips the
question). What gets pinned is what was shown: a server that changes its
tools between showing and pinning has nothing accepted.

Exits 2 when nothing was accepted because the tools differ from what was
reviewed, 3 when the server could not be used (see ` + "`mediator help exit-codes`" + `).`,
		Example: `  mediator tools diff weather          # review; prints the digest
  mediator tools accept weather --digest sha256:…
  mediator tools accept weather get_forecast`,
		Args: cmdutil.RangeArgs(1, 2, "SERVER [TOOL]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server = args[0]
			if len(args) == 2 {
				opts.Tool = args[1]
			}
			if opts.Digest != "" && !validDigest(opts.Digest) {
				return cmdutil.UsageErrorf("--digest %q is not a digest: use the sha256:… value that `mediator tools diff %s` printed", opts.Digest, opts.Server)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return acceptRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
	cmd.Flags().StringVar(&opts.Digest, "digest", "", "accept exactly the changes `tools diff` showed with this digest, or nothing")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation (what is accepted is still shown)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print what was accepted as JSON, as `tools diff --json` shows it")
	return cmd
}

// validDigest accepts what Review.Digest looks like.
func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	return strings.Trim(hex, "0123456789abcdef") == ""
}

func acceptRun(ctx context.Context, opts *AcceptOptions) error {
	o, err := opts.open(ctx, opts.Server)
	if err != nil {
		return err
	}
	defer o.Close()
	digest := opts.Digest
	if digest == "" {
		// Nothing was reviewed: review now, show it, and accept what was
		// shown.
		r, err := o.ReviewTools(ctx, opts.Server, opts.Tool)
		if err != nil {
			return err
		}
		if len(r.Changes) == 0 {
			fmt.Fprintf(opts.IO.ErrOut, "%s; nothing to accept\n", unchanged(r))
			if opts.JSON {
				return opts.writeJSON(r)
			}
			return nil
		}
		if !opts.JSON {
			if err := opts.writeReview(r); err != nil {
				return err
			}
		}
		if !opts.Yes && opts.CanPrompt() {
			ok, err := cmdutil.Confirm(opts.IO, fmt.Sprintf("Accept these %d change(s) to %s? [y/N] ", len(r.Changes), what(r)))
			if err != nil {
				return err
			}
			if !ok {
				return cmdutil.Errorf(cmdutil.ExitUsage, "nothing accepted")
			}
		}
		digest = r.Digest
	}
	r, err := o.AcceptTools(ctx, opts.Server, orchestrator.Accept{Digest: digest, Tool: opts.Tool})
	if err != nil {
		return err
	}
	if opts.JSON {
		if err := opts.writeJSON(r); err != nil {
			return err
		}
	}
	if len(r.Changes) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "%s; nothing to accept\n", unchanged(r))
		return nil
	}
	if !opts.JSON && opts.Digest != "" {
		// Reviewed before: a line per change says what was taken.
		var b strings.Builder
		for _, c := range r.Changes {
			fmt.Fprintln(&b, c)
		}
		if err := cmdutil.WriteRedacted(opts.IO.Out, opts.Redactor(), []byte(b.String())); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.IO.ErrOut, "Accepted %d change(s) to %s (digest %s)\n", len(r.Changes), what(r), r.Digest)
	return nil
}

// what names what a review is of, for messages.
func what(r *orchestrator.Review) string {
	if r.Tool != "" {
		return orchestrator.QualifiedName(r.Server, r.Tool)
	}
	return "the tools of " + r.Server
}
