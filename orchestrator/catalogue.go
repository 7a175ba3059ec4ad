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
	hash string // of the definition, see toolHash
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

// buildCatalogue turns a listing into catalogue entries with filter and pin
// state. Server names are disjoint by construction (see serverNameRule), so
// collisions can only happen within one server: a duplicated tool name, or
// two names that the LLM form maps to the same string.
func (o *Orchestrator) buildCatalogue(s *server, tools []*mcp.Tool) (*catalogue, error) {
	name := s.cfg.Name
	cat := &catalogue{tools: make(map[string]*toolEntry, len(tools))}
	llm := make(map[string]string, len(tools))
	pins := make(map[string]pinnedTool, len(tools))
	for _, t := range tools {
		if t == nil {
			continue
		}
		if _, dup := cat.tools[t.Name]; dup {
			return nil, &Error{Kind: KindCollision, Server: name,
				Msg: fmt.Sprintf("server %q lists tool %q twice, so %q is ambiguous; refusing its tool list", name, t.Name, QualifiedName(name, t.Name))}
		}
		ln := LLMName(name, t.Name)
		if other, dup := llm[ln]; dup {
			return nil, &Error{Kind: KindCollision, Server: name,
				Msg: fmt.Sprintf("server %q: tools %q and %q both map to the LLM name %q; refusing its tool list (ask the server's author to rename one)", name, other, t.Name, ln)}
		}
		llm[ln] = t.Name
		pin, err := pinOf(t)
		if err != nil {
			return nil, &Error{Kind: KindPins, Server: name, Tool: t.Name, Msg: fmt.Sprintf("hashing the definition of %s", QualifiedName(name, t.Name)), Err: err}
		}
		pins[t.Name] = pin
		reason := s.cfg.Tools.denyReason(t.Name)
		cat.tools[t.Name] = &toolEntry{
			info: ToolInfo{
				Server:    name,
				Name:      t.Name,
				Qualified: QualifiedName(name, t.Name),
				LLMName:   ln,
				Tool:      t,
				Allowed:   reason == "",
			},
			hash:       pin.hash,
			denyReason: reason,
		}
		cat.names = append(cat.names, t.Name)
	}
	sort.Strings(cat.names)

	states, err := o.pins.check(name, pins)
	if err != nil {
		return nil, err
	}
	for n, e := range cat.tools {
		e.info.Pin = states[n]
	}
	return cat, nil
}

// denyReason says why the filter excludes tool, or "" if it is allowed.
func (f ToolFilter) denyReason(tool string) string {
	for _, p := range f.Deny {
		if ok, _ := path.Match(p, tool); ok {
			return fmt.Sprintf("denied by the server's tools filter (deny pattern %q)", p)
		}
	}
	if len(f.Allow) == 0 {
		return ""
	}
	for _, p := range f.Allow {
		if ok, _ := path.Match(p, tool); ok {
			return ""
		}
	}
	return fmt.Sprintf("not allowed by the server's tools filter (allow: %s)", strings.Join(quoteAll(f.Allow), ", "))
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
