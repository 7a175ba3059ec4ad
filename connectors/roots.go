package connectors

//lint:file-ignore SA1019 sampling and roots are deprecated from protocol 2026-07-28 on, but mediator offers them to servers that use them (2025-11-25 and the deprecation window)

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// checkRoots validates the directories of a server's roots: each must be
// an absolute path to an existing directory. field names them in errors
// ("roots"). It returns them cleaned.
func checkRoots(field string, dirs []string) ([]string, error) {
	out := make([]string, 0, len(dirs))
	for i, d := range dirs {
		where := fmt.Sprintf("%s[%d]", field, i)
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("%s: %q is not an absolute path (write the directory in full, e.g. /home/you/project)", where, d)
		}
		fi, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w (a root must be an existing directory)", where, d, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s: %q is not a directory (a root must be an existing directory)", where, d)
		}
		out = append(out, filepath.Clean(d))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// mcpRoots turns directories into the roots a server is shown: file://
// URIs named after the directory.
func mcpRoots(dirs []string) []*mcp.Root {
	roots := make([]*mcp.Root, 0, len(dirs))
	for _, d := range dirs {
		u := url.URL{Scheme: "file", Path: filepath.ToSlash(d)}
		roots = append(roots, &mcp.Root{URI: u.String(), Name: filepath.Base(d)})
	}
	return roots
}

// Roots returns the directories the server is offered as roots.
func (c *Connector) Roots() []string {
	c.hostMu.Lock()
	defer c.hostMu.Unlock()
	return slices.Clone(c.roots)
}

// SetRoots replaces the directories the server is offered as roots
// (absolute paths of existing directories) and, when they changed and
// the session advertised roots, sends notifications/roots/list_changed.
// A session that advertised no roots (there were none when it connected)
// learns of them at its next connect.
func (c *Connector) SetRoots(dirs []string) error {
	clean, err := checkRoots("roots", dirs)
	if err != nil {
		return c.newError(KindConfig, err)
	}
	c.hostMu.Lock()
	defer c.hostMu.Unlock()
	if slices.Equal(clean, c.roots) {
		return nil
	}
	old := c.roots
	c.roots = clean
	if c.client == nil {
		return nil
	}
	now := mcpRoots(clean)
	var gone []string
	for _, r := range mcpRoots(old) {
		if !slices.ContainsFunc(now, func(n *mcp.Root) bool { return n.URI == r.URI }) {
			gone = append(gone, r.URI)
		}
	}
	if len(gone) > 0 {
		c.client.RemoveRoots(gone...)
	}
	// AddRoots replaces roots of the same URIs; it notifies once more.
	c.client.AddRoots(now...)
	return nil
}
