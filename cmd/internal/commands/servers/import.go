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

	File       string
	NamePrefix string
	DryRun     bool
	Force      bool
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
same way; other env values keep their ${VAR}, with a warning when VAR is
unset. A reference to one of mediator's own variables (MEDIATOR_*, the
keyring passphrase among them) is refused wherever it is. What moved where
is reported by name, never by value.

A server that already exists is left alone and nothing is imported, unless
--force replaces it.`,
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
	return cmd
}

func importRun(ctx context.Context, opts *ImportOptions) error {
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
	updated, err := config.AddServers(path, current, imps, opts.Force)
	if err != nil {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
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
			kind := "note"
			if rest, ok := strings.CutPrefix(n, "warning: "); ok {
				kind, n = "warning", rest
			}
			fmt.Fprintf(opts.IO.ErrOut, "%s: %s: %s\n", kind, s.Name, n)
		}
		for _, m := range s.Secrets {
			fmt.Fprintf(opts.IO.ErrOut, "%s: %s %s to keyring item %s/%s (%s)\n", s.Name, verb, m.From, s.Name, m.Item, m.As)
		}
	}
	if opts.DryRun {
		out, err := config.EntriesYAML(imps)
		if err != nil {
			return err
		}
		_, err = opts.IO.Out.Write(out)
		fmt.Fprintf(opts.IO.ErrOut, "dry run: %s and the keyring are unchanged\n", path)
		return err
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
	return nil
}

// checkResult validates the config as it would be written. Problems in the
// imported entries are reported by server; problems elsewhere in the file
// have to be fixed first, since the keyring settings come from it.
func checkResult(path string, updated []byte, imps []config.ImportedServer, opts *ImportOptions) (*config.Config, error) {
	// Variables the entries refer to may be set only where mediator runs
	// later; what matters now is the shape around them.
	env := func(k string) (string, bool) {
		if v, ok := opts.Env(k); ok {
			return v, ok
		}
		return "placeholder", true
	}
	cfg, err := config.Parse(path, updated, env)
	var ps config.Problems
	if !errors.As(err, &ps) {
		return cfg, err
	}
	var own, other []string
	for _, p := range ps {
		i := slices.IndexFunc(imps, func(s config.ImportedServer) bool {
			return p.Field == "servers."+s.Name || strings.HasPrefix(p.Field, "servers."+s.Name+".")
		})
		if i >= 0 {
			own = append(own, fmt.Sprintf("%s (entry %q of %s): %s: %s", imps[i].Name, imps[i].Source, opts.File, p.Field, p.Msg))
		} else {
			other = append(other, p.String())
		}
	}
	if len(own) > 0 {
		return nil, cmdutil.Errorf(cmdutil.ExitUsage, "nothing was imported; these entries would make an invalid config:\n%s", strings.Join(own, "\n"))
	}
	return nil, cmdutil.Errorf(cmdutil.ExitUsage, "nothing was imported; the config file has problems to fix first (see `mediator config validate`):\n%s", strings.Join(other, "\n"))
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
