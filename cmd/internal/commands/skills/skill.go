package skills

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// LoadOptions of `mediator skill`.
type LoadOptions struct {
	cmdutil.ServerDeps

	Server string
	Skill  string // a name, or a skill:// URI
	File   string // another file of the skill to print instead of SKILL.md
	JSON   bool
}

// NewCmdSkill returns `mediator skill SERVER NAME`.
func NewCmdSkill(f *cmdutil.Factory, runF func(context.Context, *LoadOptions) error) *cobra.Command {
	opts := &LoadOptions{ServerDeps: cmdutil.NewServerDeps(f)}
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

--file PATH prints another file of the skill instead (a path in the
skill's directory, as SKILL.md refers to it, or its skill:// URI): only a
file the listing names is read, and only printed if its size and digest
match. A file that is not text is written only to a stdout that is not a
terminal.

Exits 2 for an unknown server or skill, 3 when the server could not be
used or served a skill that does not match its listing (see
` + "`mediator help exit-codes`" + `).`,
		Example: `  mediator skill docs pdf-processing
  mediator skill docs pdf-processing --file references/FORMS.md
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
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the entry, its files and SKILL.md (or --file's file) as JSON")
	cmd.Flags().StringVar(&opts.File, "file", "", "print this file of the skill (its path in the skill, or its skill:// URI) instead of SKILL.md")
	return cmd
}

type loadedJSON struct {
	Server      string                 `json:"server"`
	Name        string                 `json:"name"`
	URI         string                 `json:"uri"`
	Description string                 `json:"description"`
	Frontmatter map[string]any         `json:"frontmatter"`
	Files       []connectors.SkillFile `json:"files"`
	File        string                 `json:"file"` // the URI of the file in content
	Content     string                 `json:"content"`
	Provenance  []string               `json:"provenance"`
}

func loadRun(ctx context.Context, opts *LoadOptions) error {
	o, err := opts.Open(ctx, opts.Server)
	if err != nil {
		return err
	}
	defer o.Close()
	var sk *orchestrator.Skill
	if opts.File != "" {
		sk, err = o.ReadSkillFile(ctx, opts.Server, opts.Skill, opts.File, orchestrator.Provenance{})
	} else {
		sk, err = o.LoadSkill(ctx, opts.Server, opts.Skill, orchestrator.Provenance{})
	}
	if err != nil {
		return err
	}
	// The audit record is on disk before the server's text is shown.
	if err := o.SyncAudit(ctx); err != nil {
		return err
	}
	e := sk.Entry
	if opts.JSON {
		if !utf8.Valid(sk.Content) {
			return cmdutil.Errorf(cmdutil.ExitUsage, "%s is not text, so it has no JSON string form; print it without --json, to a file", sk.File)
		}
		out, err := cmdutil.MarshalJSON(loadedJSON{Server: sk.Server, Name: e.Name(), URI: e.URI, Description: e.Description(),
			Frontmatter: e.Frontmatter, Files: sk.Files, File: sk.File, Content: string(sk.Content), Provenance: sk.Provenance.Servers()})
		if err != nil {
			return err
		}
		return cmdutil.WriteRedacted(opts.IO.Out, opts.Redactor(), out)
	}
	what := "SKILL.md"
	if sk.File != e.URI {
		what = sk.File
	}
	fmt.Fprintf(opts.IO.ErrOut, "skill %s of server %q: %s matches its listing (%d bytes, %s); the text is the server's\n",
		e.URI, sk.Server, what, len(sk.Content), digestOf(sk.Files, sk.File))
	if !utf8.Valid(sk.Content) {
		if opts.IO.IsStdoutTTY() {
			return cmdutil.Errorf(cmdutil.ExitUsage, "%s is not text; redirect stdout to a file to get its bytes", sk.File)
		}
		_, err := opts.IO.RawOut.Write(sk.Content)
		return err
	}
	// Out drops what could drive a terminal (termtext).
	return cmdutil.WriteRedacted(opts.IO.Out, opts.Redactor(), sk.Content)
}

func digestOf(files []connectors.SkillFile, uri string) string {
	for _, f := range files {
		if f.URI == uri {
			return f.Digest
		}
	}
	return ""
}
