package slash

import (
	"slices"
	"strings"
)

// Complete returns completions of line, each the whole line: command
// names; then servers; a server's tools after `/call server.`; resource
// URIs after `/read server ` and after `@server:` in plain text; flow
// files after `/run `; a prompt's argument names after `/server:prompt `.
// It reads only what Refresh cached.
func (c *Commands) Complete(line string) []string {
	if !strings.HasPrefix(line, "/") {
		return c.completeMention(line)
	}
	name, rest, spaced := strings.Cut(line, " ")
	if !spaced {
		return withPrefix(line, c.commandNames())
	}
	head := name + " "
	args := strings.Fields(rest)
	// The word being typed: "" right after a space.
	word := ""
	if len(args) > 0 && !strings.HasSuffix(rest, " ") {
		word = args[len(args)-1]
		args = args[:len(args)-1]
	}
	done := head + strings.Join(args, " ")
	if len(args) > 0 {
		done += " "
	}
	switch name {
	case "/tools":
		if len(args) == 0 {
			return prefixed(done, withPrefix(word, c.serverNames()))
		}
	case "/auth":
		switch len(args) {
		case 0:
			return prefixed(done, withPrefix(word, []string{"login"}))
		case 1:
			if args[0] == "login" {
				return prefixed(done, withPrefix(word, c.serverNames()))
			}
		}
	case "/read":
		switch len(args) {
		case 0:
			return prefixed(done, withPrefix(word, c.serverNames()))
		case 1:
			return prefixed(done, withPrefix(word, c.cache.resourcesOf(args[0])))
		}
	case "/call":
		if len(args) == 0 {
			return prefixed(done, c.completeTool(word))
		}
	case "/run":
		if len(args) == 0 {
			return prefixed(done, withPrefix(word, c.flowFiles()))
		}
	default:
		if server, prompt, ok := strings.Cut(name[1:], ":"); ok {
			return prefixed(done, c.completePromptArg(server, prompt, args, word))
		}
	}
	return nil
}

// completeTool completes "server" to "server." and "server.to" to the
// server's tools.
func (c *Commands) completeTool(word string) []string {
	server, tool, dotted := strings.Cut(word, ".")
	if !dotted {
		var out []string
		for _, s := range withPrefix(word, c.serverNames()) {
			out = append(out, s+".")
		}
		return out
	}
	var names []string
	for _, t := range c.cache.toolsOf(server) {
		if t.Allowed {
			names = append(names, server+"."+t.Name)
		}
	}
	return withPrefix(server+"."+tool, names)
}

// completePromptArg completes a prompt's argument names not given yet, as
// "name=".
func (c *Commands) completePromptArg(server, prompt string, given []string, word string) []string {
	ps, _ := c.cache.promptsOf(server)
	var names []string
	for _, p := range ps {
		if p.Prompt.Name != prompt {
			continue
		}
		for _, a := range p.Prompt.Arguments {
			if a == nil || slices.ContainsFunc(given, func(g string) bool { return strings.HasPrefix(g, a.Name+"=") }) {
				continue
			}
			names = append(names, a.Name+"=")
		}
	}
	return withPrefix(word, names)
}

// completeMention completes the last word of plain text when it starts
// with @: "@se" to "@server:", "@server:u" to the server's resource URIs.
func (c *Commands) completeMention(line string) []string {
	i := strings.LastIndexAny(line, " \t\n") + 1
	word := line[i:]
	if !strings.HasPrefix(word, "@") {
		return nil
	}
	server, _, colon := strings.Cut(word[1:], ":")
	var cands []string
	if !colon {
		for _, s := range c.serverNames() {
			if len(c.cache.resourcesOf(s)) > 0 {
				cands = append(cands, "@"+s+":")
			}
		}
	} else {
		for _, u := range c.cache.resourcesOf(server) {
			cands = append(cands, "@"+server+":"+u)
		}
	}
	return prefixed(line[:i], withPrefix(word, cands))
}

// withPrefix are the candidates that start with prefix, in order; none
// that equals it alone (nothing left to complete).
func withPrefix(prefix string, cands []string) []string {
	var out []string
	for _, s := range cands {
		if strings.HasPrefix(s, prefix) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 1 && out[0] == prefix {
		return nil
	}
	return out
}

// prefixed puts head before each completion: completions are whole lines.
func prefixed(head string, words []string) []string {
	if len(words) == 0 {
		return nil
	}
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = head + w
	}
	return out
}
