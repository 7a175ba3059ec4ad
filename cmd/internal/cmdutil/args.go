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
	"github.com/mediatorhq/mediator/orchestrator"
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

// CompletionTools lists the tools server offers and its filter allows, for
// completing a command line. Listing connects to the server as `mediator
// tools SERVER` does, but never prompts (a keyring passphrase comes from
// the environment or not at all) and gives up after completionTimeout: on
// any failure it returns nil, offering nothing rather than hanging the
// shell.
func CompletionTools(f *Factory, cmd *cobra.Command, server string) []orchestrator.ToolInfo {
	cfg, err := f.Config()
	if err != nil || !slices.Contains(cfg.ServerNames(), server) {
		return nil
	}
	f.NoPrompt = true
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	o, err := f.Orchestrator(ctx, cfg, server)
	if err != nil {
		cobra.CompDebugln("listing tools: "+err.Error(), false)
		return nil
	}
	defer o.Close()
	tools, err := o.Tools(ctx, server)
	if err != nil {
		cobra.CompDebugln("listing tools: "+err.Error(), false)
		return nil
	}
	var out []orchestrator.ToolInfo
	for _, t := range tools {
		if t.Allowed && t.Tool != nil {
			out = append(out, t)
		}
	}
	return out
}

// CompletionText is s made fit for a completion's description: its first
// line, without tabs (a tab ends the description) or terminal controls.
func CompletionText(s string) string {
	return strings.ReplaceAll(OneLine(s, 0), "\t", " ")
}

// CompleteServerTools completes SERVER TOOL: server names, then the tools
// the server offers and its filter allows (CompletionTools), each with the
// first line of its description.
func CompleteServerTools(f *Factory) cobra.CompletionFunc {
	servers := CompleteServers(f, 1)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) != 1 {
			return servers(cmd, args, toComplete)
		}
		var out []cobra.Completion
		for _, t := range CompletionTools(f, cmd, args[0]) {
			out = append(out, cobra.CompletionWithDesc(t.Name, CompletionText(t.Tool.Description)))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
