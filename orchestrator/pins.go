package orchestrator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/internal/suggest"
)

// Tool pinning: a tool whose definition differs from its pin ("changed"), or
// a tool with no pin on a pinned server ("new"), is refused until the user
// accepts exactly what was reviewed. A pin covers the whole definition as
// go-sdk decoded it. Why, and what pins cannot do: docs/design.md, invariant
// 4 and "Trust on first use for pins".

// pinnedTool is what a pin holds of one tool.
type pinnedTool struct {
	hash string // "sha256:" and the hex SHA-256 of def
	// def is the canonical JSON that was hashed; nil for a pin that an old
	// mediator kept as a hash only.
	def []byte
	// legacy marks a pin written before title, _meta and icons were
	// pinned: hash and def cover legacyPinOf's fields only.
	legacy   bool
	accepted time.Time
}

// offeredTool is a tool as the server offers it now, and its pin.
type offeredTool struct {
	tool *mcp.Tool
	pin  pinnedTool
}

// pinOf pins the whole definition t (a tool, or the fields of one). The
// JSON is made canonical (sorted keys, numbers as written) so equal
// definitions always hash alike.
func pinOf(t any) (pinnedTool, error) {
	b, err := canonicalJSON(t)
	if err != nil {
		return pinnedTool{}, err
	}
	return pinnedTool{hash: digestOf(b), def: b}, nil
}

// legacyPinOf is what mediator pinned before it pinned every field: the
// name, description, schemas and annotations. Pins so written are still
// honoured, compared over these fields.
func legacyPinOf(t *mcp.Tool) (pinnedTool, error) {
	p, err := pinOf(struct {
		Name         string               `json:"name"`
		Description  string               `json:"description"`
		InputSchema  any                  `json:"inputSchema"`
		OutputSchema any                  `json:"outputSchema"`
		Annotations  *mcp.ToolAnnotations `json:"annotations"`
	}{t.Name, t.Description, t.InputSchema, t.OutputSchema, t.Annotations})
	p.legacy = true
	return p, err
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// canonicalJSON marshals v with object keys sorted at every depth.
// Decoding with UseNumber keeps numbers exactly as the first pass wrote them.
func canonicalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return json.Marshal(generic)
}

// Removed marks a ToolChange for a tool the server no longer offers.
const Removed = "removed"

// ToolChange is how a tool the server offers now differs from its pin.
type ToolChange struct {
	Tool string `json:"tool"`
	// Change is PinChanged, PinNew or Removed.
	Change string `json:"change"`
	// Digest names this change alone: accepting only this tool takes it.
	Digest string `json:"digest"`
	// Before and After are the definition as pinned and as offered now:
	// Before is nil for a new tool, or for one pinned by a mediator that
	// kept hashes only; After is nil for a removed one. A pin written
	// before title, _meta and icons were pinned shows without them.
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`

	// before and after are the digests of the definitions ("" for none):
	// what a review's digest is computed over.
	before, after string
}

func (c ToolChange) String() string { return c.Tool + ": " + c.Change }

// Unified is the change as `mediator tools diff` and the daemon's web page
// show it: a line naming the tool and what happened to it, then a unified
// diff of the definitions, accepted and now.
func (c ToolChange) Unified(server string) string {
	name := QualifiedName(server, c.Tool)
	before, after := string(c.Before), string(c.After)
	if before != "" {
		before += "\n"
	}
	if after != "" {
		after += "\n"
	}
	head := fmt.Sprintf("%s: %s\n", name, c.Change)
	if c.Change == PinChanged && before == "" {
		head = fmt.Sprintf("%s: changed (the accepted definition was not kept: shown as it is now)\n", name)
	}
	return head + udiff.Unified(name+" (accepted)", name+" (now)", before, after) + "\n"
}

// Review is how a server's tools, listed afresh, differ from its pins:
// what `mediator tools diff` shows, and all that AcceptTools will pin.
type Review struct {
	Server string `json:"server"`
	// Tool is the one tool reviewed, or "" for all of the server's tools.
	Tool string `json:"tool,omitempty"`
	// Digest names exactly these changes: a SHA-256 over the server's
	// name and, per change, the tool, the kind of change and the digests
	// of the definitions before and after (each the SHA-256 of the
	// canonical JSON that Before and After show).
	Digest  string       `json:"digest"`
	Changes []ToolChange `json:"changes"`
}

// reviewDigest computes Review.Digest.
func reviewDigest(server string, changes []ToolChange) string {
	type entry struct {
		After  string `json:"after"`
		Before string `json:"before"`
		Change string `json:"change"`
		Tool   string `json:"tool"`
	}
	doc := struct {
		Changes []entry `json:"changes"`
		Server  string  `json:"server"`
	}{Changes: make([]entry, len(changes)), Server: server}
	for i, c := range changes {
		doc.Changes[i] = entry{After: c.after, Before: c.before, Change: c.Change, Tool: c.Tool}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return digestOf(b)
}

// indented lays a definition out one field per line, the same whichever
// way it was stored, so two of them compare line by line.
func indented(def []byte) json.RawMessage {
	if len(def) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Indent(&b, def, "", "  "); err != nil {
		return def
	}
	return b.Bytes()
}

// compare sets the tools a server offers against its pins. It returns the
// changes, sorted by tool, each with its own digest; and the tools whose
// legacy pin still matches, whose newly pinned fields can be recorded.
func compare(server string, pins map[string]pinnedTool, now map[string]offeredTool) (changes []ToolChange, upgrade []string, err error) {
	for n, o := range now {
		p, ok := pins[n]
		switch {
		case !ok:
			changes = append(changes, ToolChange{Tool: n, Change: PinNew, After: indented(o.pin.def), after: o.pin.hash})
			continue
		case p.legacy:
			old, err := legacyPinOf(o.tool)
			if err != nil {
				return nil, nil, fmt.Errorf("hashing the definition of %s: %w", QualifiedName(server, n), err)
			}
			if old.hash == p.hash {
				upgrade = append(upgrade, n)
				continue
			}
		case p.hash == o.pin.hash:
			continue
		}
		changes = append(changes, ToolChange{Tool: n, Change: PinChanged, Before: indented(p.def), After: indented(o.pin.def), before: p.hash, after: o.pin.hash})
	}
	for n, p := range pins {
		if _, ok := now[n]; !ok {
			changes = append(changes, ToolChange{Tool: n, Change: Removed, Before: indented(p.def), before: p.hash})
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Tool < changes[j].Tool })
	for i := range changes {
		changes[i].Digest = reviewDigest(server, changes[i:i+1])
	}
	sort.Strings(upgrade)
	return changes, upgrade, nil
}

// pinStates is each offered tool's pin state given the changes.
func pinStates(now map[string]offeredTool, changes []ToolChange) map[string]string {
	states := make(map[string]string, len(now))
	for n := range now {
		states[n] = PinPinned
	}
	for _, c := range changes {
		if c.Change != Removed {
			states[c.Tool] = c.Change
		}
	}
	return states
}

// checkPins returns each tool's pin state. A server seen for the first
// time is pinned as it is (trust on first use). A tool whose legacy pin
// still matches over the fields it covers gets its pin completed with the
// fields it lacked, as the server offers them now; the names of those
// tools that have such fields (a title, _meta, icons) are returned, since
// those fields are trusted on first sight and the caller should say so.
func (o *Orchestrator) checkPins(ctx context.Context, server string, now map[string]offeredTool) (map[string]string, []string, error) {
	pins, known, err := o.pins.load(ctx, server)
	if err != nil {
		return nil, nil, err
	}
	changes, upgrade, err := compare(server, pins, now)
	if err != nil {
		return nil, nil, &Error{Kind: KindPins, Server: server, Err: err}
	}
	if known && len(upgrade) == 0 {
		return pinStates(now, changes), nil, nil
	}
	// Something to write: decide again on the pins as they are under the
	// lock, which another process may have changed meanwhile.
	var states map[string]string
	upgrade = nil
	err = o.pins.update(ctx, server, func(pins map[string]pinnedTool, known bool) (map[string]pinnedTool, error) {
		if !known {
			next := make(map[string]pinnedTool, len(now))
			stamp := time.Now().UTC()
			for n, t := range now {
				p := t.pin
				p.accepted = stamp
				next[n] = p
			}
			states = pinStates(now, nil)
			return next, nil
		}
		changes, up, err := compare(server, pins, now)
		if err != nil {
			return nil, &Error{Kind: KindPins, Server: server, Err: err}
		}
		states = pinStates(now, changes)
		if len(up) == 0 {
			return nil, nil
		}
		for _, n := range up {
			p := now[n].pin
			p.accepted = pins[n].accepted
			pins[n] = p
			if beyondLegacy(p.def) {
				upgrade = append(upgrade, n)
			}
		}
		return pins, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return states, upgrade, nil
}

// beyondLegacy reports whether a definition has a field that legacy pins
// did not cover.
func beyondLegacy(def []byte) bool {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(def, &fields); err != nil {
		return true
	}
	for k := range fields {
		switch k {
		case "name", "description", "inputSchema", "outputSchema", "annotations":
		default:
			return true
		}
	}
	return false
}

// ReviewTools lists the server's tools afresh and returns how they differ
// from its pins, changing nothing: what AcceptTools would accept. With
// tool set, only that tool's change is reviewed.
func (o *Orchestrator) ReviewTools(ctx context.Context, server, tool string) (*Review, error) {
	_, cat, err := o.listAfresh(ctx, server)
	if err != nil {
		return nil, err
	}
	now := cat.offered()
	pins, _, err := o.pins.load(ctx, server)
	if err != nil {
		return nil, err
	}
	return review(server, tool, pins, now)
}

func review(server, tool string, pins map[string]pinnedTool, now map[string]offeredTool) (*Review, error) {
	changes, _, err := compare(server, pins, now)
	if err != nil {
		return nil, &Error{Kind: KindPins, Server: server, Err: err}
	}
	if tool != "" {
		if _, offered := now[tool]; !offered {
			if _, pinned := pins[tool]; !pinned {
				names := make([]string, 0, len(now)+len(pins))
				for n := range now {
					names = append(names, n)
				}
				for n := range pins {
					names = append(names, n)
				}
				sug := suggest.Ranked(tool, names)
				return nil, &Error{Kind: KindUnknownTool, Server: server, Tool: tool, Suggestions: sug,
					Msg: fmt.Sprintf("server %q neither offers nor has a pin of a tool %q%s", server, tool, suggest.DidYouMean(sug))}
			}
		}
		var one []ToolChange
		for _, c := range changes {
			if c.Tool == tool {
				one = append(one, c)
			}
		}
		changes = one
	}
	if changes == nil {
		changes = []ToolChange{}
	}
	return &Review{Server: server, Tool: tool, Digest: reviewDigest(server, changes), Changes: changes}, nil
}

// Accept says which changes AcceptTools pins.
type Accept struct {
	// Digest is the Review.Digest of the changes the user reviewed (or a
	// ToolChange.Digest, with Tool set to its tool). Required.
	Digest string
	// Tool, when set, accepts only that tool's change; other changes stay
	// refused.
	Tool string
}

// AcceptTools pins the changes a Review showed, and only those. It lists
// the server's tools afresh and compares them with the pins, under the
// server's pin lock; unless those changes still have the reviewed digest
// (the server changed its tools since, or someone accepted some
// meanwhile) it pins nothing and fails with KindReviewStale. It returns
// the Review it accepted.
func (o *Orchestrator) AcceptTools(ctx context.Context, server string, a Accept) (*Review, error) {
	if a.Digest == "" {
		return nil, &Error{Kind: KindReviewStale, Server: server, Tool: a.Tool,
			Msg: fmt.Sprintf("accepting the tools of %q needs the digest of the changes you reviewed (ReviewTools, `mediator tools diff %s`)", server, server)}
	}
	s, cat, err := o.listAfresh(ctx, server)
	if err != nil {
		return nil, err
	}
	now := cat.offered()
	var accepted *Review
	err = o.pins.update(ctx, server, func(pins map[string]pinnedTool, _ bool) (map[string]pinnedTool, error) {
		r, err := review(server, a.Tool, pins, now)
		if err != nil {
			return nil, err
		}
		if r.Digest != a.Digest {
			what, again := "the tools of "+server, "mediator tools diff "+server
			if a.Tool != "" {
				what, again = QualifiedName(server, a.Tool), again+" "+a.Tool
			}
			return nil, &Error{Kind: KindReviewStale, Server: server, Tool: a.Tool,
				Msg: fmt.Sprintf("the changes to %s now have digest %s, not the reviewed %s "+
					"(the server changed its tools since, or other changes were accepted meanwhile); nothing was accepted: "+
					"review them again with `%s`", what, r.Digest, a.Digest, again)}
		}
		accepted = r
		if len(r.Changes) == 0 {
			return nil, nil
		}
		stamp := time.Now().UTC()
		for _, c := range r.Changes {
			if c.Change == Removed {
				delete(pins, c.Tool)
				continue
			}
			p := now[c.Tool].pin
			p.accepted = stamp
			pins[c.Tool] = p
		}
		return pins, nil
	})
	if err != nil {
		return nil, err
	}
	// The catalogue is rebuilt from the same listing, so the session's
	// calls see the new pins at once.
	s.mu.Lock()
	s.pinGen++
	s.mu.Unlock()
	next, err := o.buildCatalogue(ctx, s, now)
	s.mu.Lock()
	switch {
	case s.cat == cat && err == nil:
		s.cat = next
	case s.cat == cat:
		s.cat, s.catErr = nil, err
	case s.flight == nil:
		// Another listing (the server said its tools changed) became
		// the catalogue meanwhile, perhaps checked against the old
		// pins: list again at the next use.
		s.cat, s.catErr = nil, nil
	}
	s.mu.Unlock()
	return accepted, err
}

// listAfresh lists a server's tools now into the session's catalogue: the
// user reviews and accepts what the server offers now, not what an
// earlier listing showed. Changed and new tools are states, not errors,
// so an error here is a connection, a collision, too many tools or a
// broken pin file: nothing to review.
func (o *Orchestrator) listAfresh(ctx context.Context, server string) (*server, *catalogue, error) {
	s, err := o.lookup(server)
	if err != nil {
		return nil, nil, err
	}
	cat, err := o.relist(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	return s, cat, nil
}
