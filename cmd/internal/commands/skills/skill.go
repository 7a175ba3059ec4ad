package skills

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/orchestrator"
)

// LoadOptions of `mediator skill`.
type LoadOptions struct {
	IO           *iostreams.IOStreams
	Config       func() (*config.Config, error)
	Orchestrator func(context.Context, *config.Config, ...string) (*orchestrator.Orchestrator, error)
	Redactor     func() *credentials.Redactor

	Server string
	Skill  string // a name, or a skill:// URI
	JSON   bool
}

// NewCmdSkill returns `mediator skill SERVER NAME`.
func NewCmdSkill(f *cmdutil.Factory, runF func(context.Context, *LoadOptions) error) *cobra.Command {
	opts := &LoadOptions{
		IO: f.IOStreams, Config: f.Config, Orchestrator: f.Orchestrator,
		Redactor: func() *credentials.Redactor { return f.Redactor },
	}
	cmd := &cobra.Command{
		Use:   "skill SERVER NAME",
		Short: "Load one skill of a server and print its SKILL.md",
		Long: `Loads a skill (the io.modelcontextprotocol/skills extension) and prints its
SKILL.md. NAME is the skill's name, or its SKILL.md URI (skill://...) when
the server lists several skills of that name.

mediator reads SKILL.md only now, and no other file of the skill; it
prints it only after checking it against the server's own listing: its
size, its sha256 digest, and its frontmatter, field by field. Any
difference refuses the skill, and nothing of the file is printed. A skill
whose files are declared "dynamic" has no sizes or digests to check and is
refused. What is printed is the server's text, with anything that could
drive a terminal removed. --json prints the entry, the list of its files
and SKILL.md's content.

Exits 2 for an unknown server or skill, 3 when the server could not be
used or served a skill that does not match its listing (see
` + "`mediator help exit-codes`" + `).`,
		Example: `  mediator skill docs pdf-processing
  mediator skill docs skill://acme/pdf-processing/SKILL.md --json`,
		Args: cmdutil.ExactArgs(2, "SERVER NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server, opts.Skill = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return loadRun(cmd.Context(), opts)
		},
		ValidArgsFunction: cmdutil.CompleteServers(f, 1),
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the entry, its files and SKILL.md as JSON")
	return cmd
}

type loadedJSON struct {
	Server      string                 `json:"server"`
	Name        string                 `json:"name"`
	URI         string                 `json:"uri"`
	Description string                 `json:"description"`
	Frontmatter map[string]any         `json:"frontmatter"`
	Files       []connectors.SkillFile `json:"files"`
	Content     string                 `json:"content"`
	Provenance  []string               `json:"provenance"`
}

func loadRun(ctx context.Context, opts *LoadOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	if _, err := cmdutil.CheckServer(cfg, opts.Server); err != nil {
		return err
	}
	o, err := opts.Orchestrator(ctx, cfg, opts.Server)
	if err != nil {
		return err
	}
	defer o.Close()
	sk, err := o.LoadSkill(ctx, opts.Server, opts.Skill, orchestrator.Provenance{})
	if err != nil {
		return err
	}
	// The audit record is on disk before the server's text is shown.
	if err := o.SyncAudit(ctx); err != nil {
		return err
	}
	e := sk.Entry
	var out []byte
	if opts.JSON {
		out, err = cmdutil.MarshalJSON(loadedJSON{Server: sk.Server, Name: e.Name(), URI: e.URI, Description: e.Description(),
			Frontmatter: e.Frontmatter, Files: sk.Files, Content: string(sk.Content), Provenance: sk.Provenance.Servers()})
		if err != nil {
			return err
		}
	} else {
		// Out drops what could drive a terminal (termtext).
		out = sk.Content
		fmt.Fprintf(opts.IO.ErrOut, "skill %s of server %q: SKILL.md matches its listing (%d bytes, %s); the text is the server's\n",
			e.URI, sk.Server, len(sk.Content), sk.Files[fileIndex(sk.Files, e.URI)].Digest)
	}
	return cmdutil.WriteRedacted(opts.IO.Out, opts.Redactor(), out)
}

func fileIndex(files []connectors.SkillFile, uri string) int {
	for i, f := range files {
		if f.URI == uri {
			return i
		}
	}
	return 0
}
