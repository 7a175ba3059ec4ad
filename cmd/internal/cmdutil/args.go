package cmdutil

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/internal/suggest"
)

// ExactArgs is cobra.ExactArgs with a usage error that names the
// arguments. It never repeats the arguments given: one might be a secret
// typed in the wrong place.
func ExactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return UsageErrorf("%s takes %d argument(s), %s; got %d", cmd.CommandPath(), n, names, len(args))
		}
		return nil
	}
}

// MaxArgs is cobra.MaximumNArgs with a usage error naming the arguments.
func MaxArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return UsageErrorf("%s takes at most %d argument(s), %s; got %d", cmd.CommandPath(), n, names, len(args))
		}
		return nil
	}
}

// RangeArgs is cobra.RangeArgs with a usage error naming the arguments.
func RangeArgs(lo, hi int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return UsageErrorf("%s takes %d to %d arguments, %s; got %d", cmd.CommandPath(), lo, hi, names, len(args))
		}
		return nil
	}
}

// CheckServer makes sure the config has the server and that its entry has
// no problems, and otherwise says which one was probably meant, or what is
// wrong with it.
func CheckServer(cfg *config.Config, name string) (*config.Server, error) {
	if s, ok := cfg.Server(name); ok {
		if err := s.Err(); err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		return s, nil
	}
	names := cfg.ServerNames()
	msg := fmt.Sprintf("unknown server %q", name)
	switch {
	case suggest.Closest(name, names) != "":
		msg += suggest.Hint(name, names)
	case len(names) == 0 && !cfg.Found:
		msg += fmt.Sprintf("; no config file at %s (add servers with `mediator servers import FILE`)", cfg.Path)
	case len(names) == 0:
		msg += fmt.Sprintf("; %s configures no servers", cfg.Path)
	default:
		msg += "; configured: " + strings.Join(names, ", ")
	}
	return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s", msg)}
}

// NoConfigHint tells the user, on stderr, that there is no config file yet.
func NoConfigHint(f *Factory, cfg *config.Config) {
	if !cfg.Found {
		fmt.Fprintf(f.IOStreams.ErrOut, "no config file at %s: add servers with `mediator servers import FILE` or write one (`mediator config validate` checks it)\n", cfg.Path)
	}
}

// CompleteServers completes the first argument with configured server names.
func CompleteServers(f *Factory, upTo int) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= upTo {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return cfg.ServerNames(), cobra.ShellCompDirectiveNoFileComp
	}
}

// completionTimeout bounds connecting to a server to complete its tool
// names: a shell waiting longer than this is worse than no completion.
const completionTimeout = 5 * time.Second

// CompleteServerTools completes SERVER TOOL: server names, then the tools
// the server offers and its filter allows, each with the first line of its
// description. Listing connects to the server as `mediator tools SERVER`
// does, but never prompts (a keyring passphrase comes from the environment
// or not at all) and gives up after completionTimeout, offering nothing
// rather than hanging the shell.
func CompleteServerTools(f *Factory) cobra.CompletionFunc {
	servers := CompleteServers(f, 1)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) != 1 {
			return servers(cmd, args, toComplete)
		}
		cfg, err := f.Config()
		if err != nil || !slices.Contains(cfg.ServerNames(), args[0]) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		f.NoPrompt = true
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, completionTimeout)
		defer cancel()
		o, err := f.Orchestrator(ctx, cfg, args[0])
		if err != nil {
			cobra.CompDebugln("listing tools: "+err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer o.Close()
		tools, err := o.Tools(ctx, args[0])
		if err != nil {
			cobra.CompDebugln("listing tools: "+err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, t := range tools {
			if !t.Allowed {
				continue
			}
			desc := ""
			if t.Tool != nil {
				desc, _, _ = strings.Cut(t.Tool.Description, "\n")
				desc = strings.ReplaceAll(desc, "\t", " ") // a tab ends the description
			}
			out = append(out, cobra.CompletionWithDesc(t.Name, desc))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
