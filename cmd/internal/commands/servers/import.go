package servers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
)

// ImportOptions of `mediator servers import`.
type ImportOptions struct {
	IO         *iostreams.IOStreams
	ConfigPath func() (string, bool, error)
	Secrets    func(context.Context, *config.Config) (*credentials.Store, error)
	Env        config.Env
	ReadFile   func(string) ([]byte, error)

	File         string
	NamePrefix   string
	DryRun       bool
	Force        bool
	SkipExisting bool
}

// NewCmdImport returns `mediator servers import FILE`.
func NewCmdImport(f *cmdutil.Factory, runF func(context.Context, *ImportOptions) error) *cobra.Command {
	opts := &ImportOptions{IO: f.IOStreams, ConfigPath: f.ConfigPath, Secrets: f.Secrets, Env: f.LookupEnv, ReadFile: os.ReadFile}
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import servers from an mcpServers JSON file (Claude Desktop, .mcp.json, Cursor)",
		Long: `Reads the "mcpServers" object of FILE (Claude Desktop's
claude_desktop_config.json, Claude Code's .mcp.json, Cursor's mcp.json; VS
Code's "servers" too) and adds each server to mediator's config file,
creating the file if needed and keeping everything else in it.

Credentials are moved, never copied into the config: an Authorization
header becomes auth bearer (or api-key), another credential header auth
api-key, and a secret-looking env value secret_env, each with the value
stored in the keyring under the server's name. A ${VAR} in a header, or in
an env value that is a credential, is resolved now and the value moved the
same way; other env values keep their ${VAR}. A credential is a value
under a name that holds one (API_KEY, DB_PASSWORD, X-Auth-Token: whatever
its length, unless it is a path or a flag word), a URL with a password
(postgres://user:pw@host/db: the whole value), or a well-known token
shape. A secret in args cannot be moved (the server reads it from its
command line) and is refused. A reference to one of mediator's own
variables (MEDIATOR_*, the keyring passphrase among them) is refused
wherever it is. What moved where is reported by name, never by value.

When an imported server cannot be used as written (a ${VAR} unset now, a
credential whose ${VAR} is unset so no value could be stored), it is still
imported, the other servers work, and import exits 2 saying what to set.

A server the config has already (by name, in any case) stops the import:
nothing is imported, and it exits 2. --skip-existing leaves those as they
are and imports the rest; --force replaces them.`,
		Example: `  mediator servers import ~/.config/Claude/claude_desktop_config.json
  mediator servers import .mcp.json --name-prefix work- --dry-run`,
		Args: cmdutil.ExactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return importRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.NamePrefix, "name-prefix", "", "prepend this to every imported server's name")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the entries that would be added; change nothing")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace servers that already exist in the config")
	cmd.Flags().BoolVar(&opts.SkipExisting, "skip-existing", false, "leave servers that already exist in the config as they are, and import the rest")
	return cmd
}

func importRun(ctx context.Context, opts *ImportOptions) error {
	if opts.Force && opts.SkipExisting {
		return cmdutil.UsageErrorf("--force and --skip-existing exclude each other: one replaces the servers the config has already, the other leaves them as they are")
	}
	data, err := opts.ReadFile(opts.File)
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "reading %s: %v", opts.File, unwrapPath(err))
	}
	imps, err := config.ParseMCPServers(opts.File, data, opts.NamePrefix, opts.Env)
	if err != nil {
		return err
	}
	if len(imps) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "%s lists no servers; nothing to import\n", opts.File)
		return nil
	}
	path, _, err := opts.ConfigPath()
	if err != nil {
		return cmdutil.Errorf(cmdutil.ExitUsage, "locating the config file: %v", err)
	}
	current, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the config: %w", err)
	}
	on := config.RefuseExisting
	switch {
	case opts.Force:
		on = config.ReplaceExisting
	case opts.SkipExisting:
		on = config.SkipExisting
	}
	updated, existing, err := config.AddServers(path, current, imps, on)
	if err != nil {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
	}
	if on == config.SkipExisting {
		imps = slices.DeleteFunc(imps, func(s config.ImportedServer) bool {
			return slices.ContainsFunc(existing, func(e config.Existing) bool { return e.Name == s.Name })
		})
		for _, e := range existing {
			fmt.Fprintf(opts.IO.ErrOut, "skipped: %s: the config has it already (%q, line %d); left as it was\n", e.Name, e.Configured, e.Line)
		}
		if len(imps) == 0 {
			fmt.Fprintf(opts.IO.ErrOut, "%s has every server of %s already; nothing to import\n", path, opts.File)
			return nil
		}
	}
	cfg, err := checkResult(path, updated, imps, opts)
	if err != nil {
		return err
	}

	verb := "moved"
	if opts.DryRun {
		verb = "would move"
	}
	for _, s := range imps {
		for _, n := range s.Notes {
			fmt.Fprintf(opts.IO.ErrOut, "note: %s: %s\n", s.Name, n)
		}
		for _, m := range s.Secrets {
			fmt.Fprintf(opts.IO.ErrOut, "%s: %s %s to keyring item %s/%s (%s)\n", s.Name, verb, m.From, s.Name, m.Item, m.As)
		}
	}
	unusable := unusableImports(cfg, imps)
	if opts.DryRun {
		out, err := config.EntriesYAML(imps)
		if err != nil {
			return err
		}
		if _, err := opts.IO.Out.Write(out); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "dry run: %s and the keyring are unchanged\n", path)
		if len(unusable) > 0 {
			return cmdutil.Errorf(cmdutil.ExitUsage, "once imported, these would not be usable as written until this is done:\n%s", strings.Join(unusable, "\n"))
		}
		return nil
	}

	// Secrets first: a config naming items that are not stored yet would be
	// worse than stored items no config names yet.
	if err := storeSecrets(ctx, opts, cfg, imps); err != nil {
		return err
	}
	if err := config.WriteFileAtomic(path, updated); err != nil {
		return err
	}
	names := make([]string, len(imps))
	for i, s := range imps {
		names[i] = s.Name
	}
	fmt.Fprintf(opts.IO.ErrOut, "Imported %d server(s) into %s: %s\n", len(imps), path, strings.Join(names, ", "))
	if len(unusable) > 0 {
		return cmdutil.Errorf(cmdutil.ExitUsage, "imported, but not usable as written until this is done (other servers are not affected; `mediator servers` shows each):\n%s", strings.Join(unusable, "\n"))
	}
	return nil
}

// checkResult validates the config as it would be written and returns it
// as mediator would load it now. With every variable taken as set it
// checks the shape: a problem in an imported entry, or in the file outside
// the servers (the keyring settings come from there), means nothing is
// imported. A ${VAR} that is unset now does not stop the import: the
// loaded config marks that server, and unusableImports reports it.
func checkResult(path string, updated []byte, imps []config.ImportedServer, opts *ImportOptions) (*config.Config, error) {
	// Variables the entries refer to may be set only where mediator runs
	// later; what matters first is the shape around them.
	anySet := func(k string) (string, bool) {
		if v, ok := opts.Env(k); ok {
			return v, ok
		}
		return "placeholder", true
	}
	shape, err := config.Parse(path, updated, anySet)
	if err != nil {
		return nil, fileProblems(err)
	}
	var own []string
	for _, s := range imps {
		if sc, ok := shape.Server(s.Name); ok {
			for _, p := range sc.Problems {
				own = append(own, fmt.Sprintf("%s (entry %q of %s): %s: %s", s.Name, s.Source, opts.File, p.Field, p.Message))
			}
		}
	}
	if len(own) > 0 {
		return nil, cmdutil.Errorf(cmdutil.ExitUsage, "nothing was imported; these entries would make an invalid config:\n%s", strings.Join(own, "\n"))
	}
	// The keyring and state settings as they resolve now.
	cfg, err := config.Parse(path, updated, opts.Env)
	if err != nil {
		return nil, fileProblems(err)
	}
	return cfg, nil
}

func fileProblems(err error) error {
	var ps config.Problems
	if !errors.As(err, &ps) {
		return err
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return cmdutil.Errorf(cmdutil.ExitUsage, "nothing was imported; the config file has problems to fix first (see `mediator config validate`):\n%s", strings.Join(lines, "\n"))
}

// unusableImports says, per imported server, why it cannot be used as
// written: its problems as the config loads now (a ${VAR} unset), and the
// keyring items it names that import could not fill.
func unusableImports(cfg *config.Config, imps []config.ImportedServer) []string {
	var out []string
	for _, s := range imps {
		if sc, ok := cfg.Server(s.Name); ok {
			for _, p := range sc.Problems {
				out = append(out, s.Name+": "+p.String())
			}
		}
		for _, u := range s.Unfilled {
			out = append(out, s.Name+": "+u)
		}
	}
	return out
}

func storeSecrets(ctx context.Context, opts *ImportOptions, cfg *config.Config, imps []config.ImportedServer) error {
	need := false
	for _, s := range imps {
		need = need || len(s.Secrets) > 0
	}
	if !need {
		return nil
	}
	store, err := opts.Secrets(ctx, cfg)
	if err != nil {
		return fmt.Errorf("nothing was imported: %w", err)
	}
	for _, s := range imps {
		existing, err := store.List(s.Name)
		if err != nil {
			return err
		}
		for _, m := range s.Secrets {
			if slices.Contains(existing, credentials.Item{Server: s.Name, Name: m.Item}) {
				fmt.Fprintf(opts.IO.ErrOut, "%s: replaced the earlier value of keyring item %s/%s\n", s.Name, s.Name, m.Item)
			}
			if err := store.Set(s.Name, m.Item, m.Value); err != nil {
				return fmt.Errorf("the config was not changed: %w", err)
			}
		}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
