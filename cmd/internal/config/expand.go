package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// expand replaces ${VAR} and ${VAR:-default} in a string value, as Claude
// Code and VS Code (${env:VAR}) do in their MCP configs. ${VAR:-default} takes the
// default when VAR is unset or empty; ${VAR} with VAR unset is a problem,
// because silently connecting to "https:///mcp" helps nobody. A reference
// to one of mediator's own variables (MEDIATOR_*) is a problem too: see
// ownVarProblem.
func (w *walker) expand(n *yaml.Node, field string) string {
	return w.expandWith(n, field, w.env)
}

// checkRefs reports the problems of value's references that do not depend
// on the environment (syntax, mediator's own variables) at n, and whether
// there were none. Import uses it for values it keeps as written, which
// the loader expands later.
func (w *walker) checkRefs(n *yaml.Node, field, value string) bool {
	before := len(w.problems)
	anySet := func(string) (string, bool) { return "set", true }
	w.expandWith(&yaml.Node{Kind: yaml.ScalarNode, Value: value, Line: n.Line, Column: n.Column}, field, anySet)
	return len(w.problems) == before
}

func (w *walker) expandWith(n *yaml.Node, field string, env Env) string {
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
		if msg := ownVarProblem(name); msg != "" {
			w.badValue(n, field, "%s", msg)
			continue
		}
		if strings.Contains(def, "${") {
			// "${A:-${B}}" would end at the first }, leaving a literal
			// "${B" default and a stray "}".
			w.badValue(n, field, "${%s}: a default is plain text, not another reference; write ${%s:-value}", expr, name)
			continue
		}
		v, ok := env(name)
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

// ownVarPrefix starts the names of mediator's own environment variables:
// the keyring passphrase (credentials.PassphraseEnv), the config path
// (EnvConfig) and whatever comes next.
const ownVarPrefix = "MEDIATOR_"

// ownVarProblem refuses a reference to one of mediator's own variables,
// or returns "". They configure mediator itself, and the keyring
// passphrase among them unlocks every server's credentials: expanded into
// a server's env, header, URL or arguments it would hand that server what
// mediator keeps from all of them. The prefix is compared without regard
// to case, as Windows compares variable names.
func ownVarProblem(name string) string {
	if len(name) < len(ownVarPrefix) || !strings.EqualFold(name[:len(ownVarPrefix)], ownVarPrefix) {
		return ""
	}
	return "${" + name + "} refers to mediator's own environment, which is never expanded into the config: " +
		ownVarPrefix + "* variables (the keyring passphrase among them) are for mediator, not for servers; " +
		"store a value a server needs with \"mediator secret set SERVER NAME\" and refer to it from auth or secret_env"
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
