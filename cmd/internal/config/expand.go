package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// expand replaces ${VAR} and ${VAR:-default} in a string value, as Claude
// Code and VS Code (${env:VAR}) do in their MCP configs. ${VAR:-default} takes the
// default when VAR is unset or empty; ${VAR} with VAR unset is a problem,
// because silently connecting to "https:///mcp" helps nobody.
func (w *walker) expand(n *yaml.Node, field string) string {
	s := n.Value
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			w.badValue(n, field, "unclosed ${ in %q; write ${VAR} or ${VAR:-default}", n.Value)
			return n.Value
		}
		expr := s[i+2 : i+end]
		s = s[i+end+1:]
		name, def, hasDef := strings.Cut(expr, ":-")
		// VS Code spells an environment variable ${env:VAR}.
		name = strings.TrimPrefix(name, "env:")
		if strings.HasPrefix(name, "input:") {
			w.badValue(n, field, "${%s} is a VS Code input prompt, which mediator does not have; store the value with \"mediator secret set SERVER NAME\" and refer to it from auth or secret_env", expr)
			continue
		}
		if !validEnvName(name) {
			w.badValue(n, field, "${%s} is not a variable reference; write ${VAR} or ${VAR:-default} with VAR made of letters, digits and _", expr)
			continue
		}
		v, ok := w.env(name)
		switch {
		case hasDef && v == "":
			b.WriteString(def)
		case ok:
			b.WriteString(v)
		default:
			w.badValue(n, field, "environment variable %s is not set and ${%s} has no default (write ${%s:-value} to give one)", name, name, name)
		}
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
