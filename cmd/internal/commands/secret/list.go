package secret

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/credentials"
)

// ListOptions of `mediator secret list`.
type ListOptions struct {
	deps
	Server string
	JSON   bool
}

// NewCmdList returns `mediator secret list [SERVER]`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:     "list [SERVER]",
		Aliases: []string{"ls"},
		Short:   "List stored secret names (never values) and the keyring backend",
		Args:    cmdutil.MaxArgs(1, "[SERVER]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Server = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

type listing struct {
	Backend  string             `json:"backend"`
	Location string             `json:"location,omitempty"`
	Secrets  []credentials.Item `json:"secrets"`
}

func listRun(ctx context.Context, opts *ListOptions) error {
	if opts.Server != "" {
		if err := checkNames(opts.Server, ""); err != nil {
			return err
		}
	}
	store, err := opts.open(ctx, opts.Server)
	if err != nil {
		return err
	}
	items, err := store.List(opts.Server)
	if err != nil {
		return err
	}
	if opts.JSON {
		out, err := cmdutil.MarshalJSON(listing{Backend: store.Backend(), Location: store.Location(), Secrets: items})
		if err != nil {
			return err
		}
		_, err = opts.IO.Out.Write(out)
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Secrets in the %s:\n", describe(store))
	if len(items) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "none")
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tNAME")
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\n", it.Server, it.Name)
	}
	return tw.Flush()
}
