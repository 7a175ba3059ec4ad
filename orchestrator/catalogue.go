package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/suggest"
)

// Pin states of a catalogue entry.
const (
	PinPinned  = "pinned"  // definition matches what was accepted
	PinChanged = "changed" // definition differs from its pin: refused until accepted
	PinNew     = "new"     // tool appeared after the server was pinned: refused until accepted
)

// catalogue is one session's tool list of one server. It is immutable once
// built; accepting tools builds a new one.
type catalogue struct {
	tools map[string]*toolEntry
	names []string // sorted
}

type toolEntry struct {
	info ToolInfo
	pin  pinnedTool // the definition as offered, see pinOf
	hash string     // pin.hash
	// denyReason says why the filter excludes the tool ("" when allowed).
	denyReason string
	schema     atomic.Pointer[schemaResult]
}

// QualifiedName is the "server.tool" form users type.
func QualifiedName(server, tool string) string { return server + "." + tool }

// LLMName is the "server__tool" form for LLM tool lists, whose names allow
// only [A-Za-z0-9_-]: other characters of the tool name become '_'.
func LLMName(server, tool string) string {
	var b strings.Builder
	b.Grow(len(server) + 2 + len(tool))
	b.WriteString(server)
	b.WriteString("__")
	for _, r := range tool {
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// buildCatalogue turns a listing (see offered) into catalogue entries with
// filter and pin state.
func (o *Orchestrator) buildCatalogue(ctx context.Context, s *server, now map[string]offeredTool) (*catalogue, error) {
	name := s.cfg.Name
	states, upgraded, err := o.checkPins(ctx, name, now)
	if err != nil {
		return nil, err
	}
	if len(upgraded) > 0 {
		const show = 20
		list := strings.Join(upgraded[:min(show, len(upgraded))], ", ")
		if len(upgraded) > show {
			list += fmt.Sprintf(" and %d more", len(upgraded)-show)
		}
		o.log.Warn("pins from an older mediator did not cover the title, _meta and icons of these tools; "+
			"recorded them, unreviewed, as the server offers them now",
			"server", name, "tools", list)
	}
	cat := &catalogue{tools: make(map[string]*toolEntry, len(now)), names: make([]string, 0, len(now))}
	for n, t := range now {
		reason := s.cfg.Tools.denyReason(n)
		cat.tools[n] = &toolEntry{
			info: ToolInfo{
				Server:    name,
				Name:      n,
				Qualified: QualifiedName(name, n),
				LLMName:   LLMName(name, n),
				Tool:      t.tool,
				Allowed:   reason == "",
				Pin:       states[n],
			},
			pin:        t.pin,
			hash:       t.pin.hash,
			denyReason: reason,
		}
		cat.names = append(cat.names, n)
	}
	sort.Strings(cat.names)
	return cat, nil
}

// offered checks a listing and pins each tool as the server offers it.
// Server names are disjoint by construction (see serverNameRule), so
// collisions can only happen within one server: a duplicated tool name, or
// two names that the LLM form maps to the same string.
func offered(server string, tools []*mcp.Tool) (map[string]offeredTool, error) {
	now := make(map[string]offeredTool, len(tools))
	llm := make(map[string]string, len(tools))
	for _, t := range tools {
		if t == nil {
			continue
		}
		if _, dup := now[t.Name]; dup {
			return nil, &Error{Kind: KindCollision, Server: server,
				Msg: fmt.Sprintf("server %q lists tool %q twice, so %q is ambiguous; refusing its tool list", server, t.Name, QualifiedName(server, t.Name))}
		}
		ln := LLMName(server, t.Name)
		if other, dup := llm[ln]; dup {
			return nil, &Error{Kind: KindCollision, Server: server,
				Msg: fmt.Sprintf("server %q: tools %q and %q both map to the LLM name %q; refusing its tool list (ask the server's author to rename one)", server, other, t.Name, ln)}
		}
		llm[ln] = t.Name
		p, err := pinOf(t)
		if err != nil {
			return nil, &Error{Kind: KindPins, Server: server, Tool: t.Name, Msg: fmt.Sprintf("hashing the definition of %s", QualifiedName(server, t.Name)), Err: err}
		}
		now[t.Name] = offeredTool{tool: t, pin: p}
	}
	return now, nil
}

// denyReason says why the filter excludes tool, or "" if it is allowed.
func (f ToolFilter) denyReason(tool string) string { return f.excludes("tools", tool) }

// excludes says why the server's filter of what (tools, resources,
// prompts) excludes name, or "" if it is allowed.
func (f ToolFilter) excludes(what, name string) string {
	for _, p := range f.Deny {
		if globMatch(p, name) {
			return fmt.Sprintf("denied by the server's %s filter (deny pattern %q)", what, p)
		}
	}
	if len(f.Allow) == 0 {
		return ""
	}
	for _, p := range f.Allow {
		if globMatch(p, name) {
			return ""
		}
	}
	return fmt.Sprintf("not allowed by the server's %s filter (allow: %s)", what, strings.Join(quoteAll(f.Allow), ", "))
}

// globMatch is path.Match, but for a pattern ending in "**", which
// matches every name that begins with what comes before the "**" (a
// prefix of URIs: "file:///srv/docs/**"), "/" included.
func globMatch(pattern, name string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "**"); ok {
		for i := len(name); i >= 0; i-- {
			if ok, _ := path.Match(prefix, name[:i]); ok {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// Tools lists the catalogue for one server (connecting it if needed), or for
// all connected servers when server is "" (servers that failed to connect
// are skipped; Servers() says why). With "", a connected server whose tool
// list is unusable (a name collision, a broken pin file) is left out and its
// error joined into the returned error, next to every other server's tools.
func (o *Orchestrator) Tools(ctx context.Context, server string) ([]ToolInfo, error) {
	if server != "" {
		s, err := o.lookup(server)
		if err != nil {
			return nil, err
		}
		cat, err := o.catalogueOf(ctx, s)
		if err != nil {
			return nil, err
		}
		return cat.list(), nil
	}
	var (
		out  []ToolInfo
		errs []error
	)
	for _, name := range o.names {
		s := o.servers[name]
		if s.conn.Status().State != connectors.StateReady {
			continue // connected servers only; failures show in Servers()
		}
		cat, err := o.catalogueOf(ctx, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, cat.list()...)
	}
	return out, errors.Join(errs...)
}

// offered is the listing the catalogue was built from.
func (c *catalogue) offered() map[string]offeredTool {
	now := make(map[string]offeredTool, len(c.tools))
	for n, e := range c.tools {
		now[n] = offeredTool{tool: e.info.Tool, pin: e.pin}
	}
	return now
}

func (c *catalogue) list() []ToolInfo {
	out := make([]ToolInfo, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, c.tools[n].info)
	}
	return out
}

// tool finds a tool or says which names were meant.
func (c *catalogue) tool(server, name string) (*toolEntry, error) {
	if e, ok := c.tools[name]; ok {
		return e, nil
	}
	sug := suggest.Ranked(name, c.names)
	msg := fmt.Sprintf("server %q has no tool %q%s", server, name, suggest.DidYouMean(sug))
	if len(sug) == 0 {
		msg += fmt.Sprintf(" (run `mediator tools %s` to list its %d tools)", server, len(c.names))
	}
	return nil, &Error{Kind: KindUnknownTool, Server: server, Tool: name, Suggestions: sug, Msg: msg}
}
