package config

import (
	"fmt"
	"path"
	"strings"
)

// validateFilters checks a server's resources and prompts filters: globs
// as for tools, where a resources pattern may end in "**" to match the
// rest of a URI, "/" included.
func (w *walker) validateFilters(s *Server, p string) {
	for _, list := range []struct {
		name     string
		patterns []string
		example  string
	}{
		{"resources.allow", s.Resources.Allow, `"docs://handbook/**"`}, {"resources.deny", s.Resources.Deny, `"file:///home/*/.ssh/**"`},
		{"prompts.allow", s.Prompts.Allow, `"summarize-*"`}, {"prompts.deny", s.Prompts.Deny, `"summarize-*"`},
	} {
		for i, pat := range list.patterns {
			glob := pat
			if strings.HasPrefix(list.name, "resources.") {
				glob = strings.TrimSuffix(pat, "**")
			}
			if _, err := path.Match(glob, ""); err != nil || pat == "" || strings.Contains(glob, "**") {
				hint := "use * and ? (path.Match syntax)"
				if strings.HasPrefix(list.name, "resources.") {
					hint += `, and ** only at the end to match the rest of a URI`
				}
				w.at(fmt.Sprintf("%s.%s[%d]", p, list.name, i), "%q is not a valid glob; %s, e.g. %s", pat, hint, list.example)
			}
		}
	}
}
