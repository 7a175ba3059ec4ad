package chat

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
)

// SessionsOptions of `mediator chat sessions`.
type SessionsOptions struct {
	IO       *iostreams.IOStreams
	Config   func() (*config.Config, error)
	Redactor func() *credentials.Redactor
	JSON     bool
}

// NewCmdSessions returns `mediator chat sessions`.
func NewCmdSessions(f *cmdutil.Factory, runF func(context.Context, *SessionsOptions) error) *cobra.Command {
	opts := &SessionsOptions{IO: f.IOStreams, Config: f.Config, Redactor: func() *credentials.Redactor { return f.Redactor }}
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List saved chat conversations, most recent first",
		Long: `Lists the conversations saved under the state dir (chat/ID.jsonl): each
one's ID, when it was last written, the model, the first question, how many
messages it holds and which servers' output its context holds. mediator chat
--resume ID continues one, --continue the most recent.`,
		Example: "  mediator chat sessions\n  mediator chat sessions --json",
		Args:    cmdutil.ExactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sessionsRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the sessions as JSON")
	return cmd
}

// firstWidth bounds the first question in the table.
const firstWidth = 48

func sessionsRun(ctx context.Context, opts *SessionsOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	store := agent.Store{Dir: cfg.ChatDir()}
	list, err := store.List()
	if err != nil {
		return err
	}
	red := opts.Redactor()
	if opts.JSON {
		if list == nil {
			list = []agent.SessionInfo{}
		}
		out, err := cmdutil.MarshalJSON(list)
		if err != nil {
			return err
		}
		return cmdutil.WriteRedacted(opts.IO.Out, red, out)
	}
	if len(list) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "no saved chat sessions in %s\n", store.Dir)
		return nil
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUPDATED\tMODEL\tMESSAGES\tCONTEXT\tFIRST")
	for _, s := range list {
		ctxt := strings.Join(s.Context, ",")
		if ctxt == "" {
			ctxt = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.Updated.Local().Format("2006-01-02 15:04"), cmdutil.OneLine(s.Model, 40), s.Messages, ctxt, cmdutil.OneLine(s.First, firstWidth))
	}
	tw.Flush()
	return cmdutil.WriteRedacted(opts.IO.Out, red, []byte(b.String()))
}
