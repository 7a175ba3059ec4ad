package call

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/internal/argcheck"
)

// completeArg completes -a KEY=VALUE from the tool's input schema: before
// the "=", the property names at KEY's level (a dotted KEY goes into an
// object), each as "name=" with its type and description; after it, the
// values of an enum. Keys given already are not offered again.
func completeArg(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		const none = cobra.ShellCompDirectiveNoFileComp
		if len(args) != 2 {
			return nil, none
		}
		var schema map[string]any
		for _, t := range cmdutil.CompletionTools(f, cmd, args[0]) {
			if t.Name == args[1] {
				schema = argcheck.SchemaMap(t.Tool.InputSchema)
			}
		}
		if schema == nil {
			return nil, none
		}
		if key, _, ok := strings.Cut(toComplete, "="); ok {
			return enumValues(key, schemaAt(schema, strings.Split(key, "."))), none
		}
		var parent []string
		prefix := ""
		if i := strings.LastIndexByte(toComplete, '.'); i >= 0 {
			parent = strings.Split(toComplete[:i], ".")
			prefix = toComplete[:i+1]
		}
		at := schemaAt(schema, parent)
		props, _ := at["properties"].(map[string]any)
		required := map[string]bool{}
		if req, ok := at["required"].([]any); ok {
			for _, r := range req {
				if name, ok := r.(string); ok {
					required[name] = true
				}
			}
		}
		given, _ := cmd.Flags().GetStringArray("arg")
		names := make([]string, 0, len(props))
		for name := range props {
			names = append(names, name)
		}
		sort.Strings(names)
		var out []cobra.Completion
		for _, name := range names {
			key := prefix + name
			if slices.ContainsFunc(given, func(p string) bool { k, _, _ := strings.Cut(p, "="); return k == key }) {
				continue
			}
			ps, _ := props[name].(map[string]any)
			out = append(out, cobra.CompletionWithDesc(key+"=", describeProperty(ps, required[name])))
		}
		return out, none | cobra.ShellCompDirectiveNoSpace
	}
}

// describeProperty is a property's completion description: its types,
// whether it is required, and the first line of its description.
func describeProperty(s map[string]any, required bool) string {
	var parts []string
	if types := schemaTypes(s); len(types) > 0 {
		parts = append(parts, strings.Join(types, "|"))
	}
	if required {
		parts = append(parts, "required")
	}
	desc := strings.Join(parts, ", ")
	if d, _ := s["description"].(string); d != "" {
		if desc != "" {
			desc += ": "
		}
		desc += d
	}
	return cmdutil.CompletionText(desc)
}

// enumValues offers KEY=VALUE for each value s's enum allows.
func enumValues(key string, s map[string]any) []cobra.Completion {
	enum, _ := s["enum"].([]any)
	var out []cobra.Completion
	for _, v := range enum {
		text, ok := v.(string)
		if !ok {
			b, err := json.Marshal(v)
			if err != nil {
				continue
			}
			text = string(b)
		}
		out = append(out, key+"="+cmdutil.CompletionText(text))
	}
	return out
}
