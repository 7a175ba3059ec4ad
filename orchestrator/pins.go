package orchestrator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/privfile"
)

// Tool pinning defends against a server that changes what a tool claims to
// do after the user started trusting it (a "rug pull"): the description an
// LLM reads, or the schema of what gets sent. The first time mediator sees a
// server it pins every tool (trust on first use). From then on:
//   - a tool whose definition differs from its pin is "changed";
//   - a tool with no pin on an already pinned server is "new".
//
// Both are refused until the user reviews them and runs
// `mediator tools accept SERVER`. New tools are refused too, rather than
// trusted on first use, because adding a tool to a trusted server is the
// same attack as changing one: the newcomer inherits the server's trust
// without the user having looked at it.

// pinFileVersion is the format of the pin file. Version 2 added the
// definitions; a version 1 file is read as pins without them.
const pinFileVersion = 2

type pinFile struct {
	Version int                  `json:"version"`
	Servers map[string]serverPin `json:"servers"`
}

type serverPin struct {
	// Tools maps tool name to its definition hash.
	Tools map[string]string `json:"tools"`
	// Definitions maps tool name to the definition the hash is of, so a
	// change can be shown, not only detected.
	Definitions map[string]json.RawMessage `json:"definitions,omitempty"`
	Accepted    time.Time                  `json:"accepted"`
}

// pinnedTool is what a pin holds of one tool.
type pinnedTool struct {
	hash string
	def  []byte // canonical JSON of the hashed definition
}

// Removed marks a ToolChange for a tool the server no longer offers.
const Removed = "removed"

// ToolChange is how a tool the server offers now differs from its pin.
type ToolChange struct {
	Tool string `json:"tool"`
	// Change is PinChanged, PinNew or Removed.
	Change string `json:"change"`
	// Before and After are the definition as pinned and as offered now
	// (name, description, inputSchema, outputSchema, annotations): Before
	// is nil for a new tool, or for one pinned by a mediator that kept
	// hashes only; After is nil for a removed one.
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

func (c ToolChange) String() string { return c.Tool + ": " + c.Change }

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

// diffPins compares a server's pin with the tools it offers now, sorted by
// tool name.
func diffPins(sp serverPin, now map[string]pinnedTool) []ToolChange {
	var changes []ToolChange
	for n, t := range now {
		switch pinned, ok := sp.Tools[n]; {
		case !ok:
			changes = append(changes, ToolChange{Tool: n, Change: PinNew, After: indented(t.def)})
		case pinned != t.hash:
			changes = append(changes, ToolChange{Tool: n, Change: PinChanged, Before: indented(sp.Definitions[n]), After: indented(t.def)})
		}
	}
	for n := range sp.Tools {
		if _, ok := now[n]; !ok {
			changes = append(changes, ToolChange{Tool: n, Change: Removed, Before: indented(sp.Definitions[n])})
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Tool < changes[j].Tool })
	return changes
}

// pinStore keeps pins in a JSON file, or in memory when path is empty. It
// re-reads the file before each write and replaces only one server's entry,
// so two mediator processes pinning different servers do not undo each
// other.
type pinStore struct {
	path string
	mu   sync.Mutex
	mem  map[string]serverPin // the in-memory store when path is ""
}

func newPinStore(path string) *pinStore {
	return &pinStore{path: path, mem: map[string]serverPin{}}
}

// check returns each tool's pin state. A server seen for the first time is
// pinned as it is (trust on first use).
func (p *pinStore) check(server string, tools map[string]pinnedTool) (map[string]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	all, err := p.read()
	if err != nil {
		return nil, err
	}
	sp, known := all[server]
	states := make(map[string]string, len(tools))
	if !known {
		if err := p.write(server, tools); err != nil {
			return nil, err
		}
		for n := range tools {
			states[n] = PinPinned
		}
		return states, nil
	}
	for n := range tools {
		states[n] = PinPinned
	}
	for _, c := range diffPins(sp, tools) {
		if c.Change != Removed {
			states[c.Tool] = c.Change
		}
	}
	return states, nil
}

// changes reports how tools differ from the server's pin, without pinning.
func (p *pinStore) changes(server string, tools map[string]pinnedTool) ([]ToolChange, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	all, err := p.read()
	if err != nil {
		return nil, err
	}
	return diffPins(all[server], tools), nil
}

// accept pins tools as the server's whole tool set and reports what
// differs from before.
func (p *pinStore) accept(server string, tools map[string]pinnedTool) ([]ToolChange, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	all, err := p.read()
	if err != nil {
		return nil, err
	}
	changes := diffPins(all[server], tools)
	if err := p.write(server, tools); err != nil {
		return nil, err
	}
	return changes, nil
}

func (p *pinStore) read() (map[string]serverPin, error) {
	if p.path == "" {
		return p.mem, nil
	}
	data, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]serverPin{}, nil
	}
	if err != nil {
		return nil, &Error{Kind: KindPins, Msg: "reading the pin file", Err: err}
	}
	var f pinFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, &Error{Kind: KindPins, Msg: fmt.Sprintf("pin file %s is not valid (%s); "+
			"it records which tool definitions you accepted, so mediator will not guess: fix it, or move it aside "+
			"to re-pin every server on next use", p.path, jsonErrorPosition(data, err))}
	}
	if f.Version != 1 && f.Version != pinFileVersion {
		return nil, &Error{Kind: KindPins, Msg: fmt.Sprintf("pin file %s has version %d; this mediator reads versions 1 and %d", p.path, f.Version, pinFileVersion)}
	}
	if f.Servers == nil {
		f.Servers = map[string]serverPin{}
	}
	return f.Servers, nil
}

// write replaces one server's pins, atomically on disk: a crash leaves the
// old file or the new one, never a torn one.
func (p *pinStore) write(server string, tools map[string]pinnedTool) error {
	sp := serverPin{Tools: make(map[string]string, len(tools)), Definitions: make(map[string]json.RawMessage, len(tools)), Accepted: time.Now().UTC()}
	for n, t := range tools {
		sp.Tools[n] = t.hash
		sp.Definitions[n] = t.def
	}
	if p.path == "" {
		p.mem[server] = sp
		return nil
	}
	all, err := p.read()
	if err != nil {
		return err
	}
	all[server] = sp
	data, err := json.MarshalIndent(pinFile{Version: pinFileVersion, Servers: all}, "", "  ")
	if err != nil {
		return &Error{Kind: KindPins, Msg: "encoding the pin file", Err: err}
	}
	if err := privfile.WriteFile(p.path, append(data, '\n')); err != nil {
		return &Error{Kind: KindPins, Msg: "writing the pin file", Err: err}
	}
	return nil
}

// jsonErrorPosition renders a decoding error with its line and column.
func jsonErrorPosition(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var off int64 = -1
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err.Error()
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}

// pinOf digests the parts of a definition that tell a model or a user
// what the tool does and takes. The JSON is made canonical (sorted keys,
// numbers as written) so equal definitions always hash alike.
func pinOf(t *mcp.Tool) (pinnedTool, error) {
	def := struct {
		Name         string               `json:"name"`
		Description  string               `json:"description"`
		InputSchema  any                  `json:"inputSchema"`
		OutputSchema any                  `json:"outputSchema"`
		Annotations  *mcp.ToolAnnotations `json:"annotations"`
	}{t.Name, t.Description, t.InputSchema, t.OutputSchema, t.Annotations}
	b, err := canonicalJSON(def)
	if err != nil {
		return pinnedTool{}, err
	}
	sum := sha256.Sum256(b)
	return pinnedTool{hash: "sha256:" + hex.EncodeToString(sum[:]), def: b}, nil
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

// AcceptTools re-pins a server's current tool definitions, listed afresh,
// and returns how they differ from the old pins, sorted by tool. An empty
// list means nothing differed.
func (o *Orchestrator) AcceptTools(ctx context.Context, server string) ([]ToolChange, error) {
	s, tools, pins, since, err := o.listAfresh(ctx, server)
	if err != nil {
		return nil, err
	}
	changes, err := o.pins.accept(server, pins)
	if err != nil {
		return nil, err
	}
	cat, err := o.buildCatalogue(s, tools)
	s.mu.Lock()
	if err == nil {
		s.cat, s.catSince, s.catErr = cat, since, nil
	} else {
		s.cat, s.catErr = nil, err
	}
	s.mu.Unlock()
	return changes, err
}

// ToolChanges lists afresh what the server offers and returns how it
// differs from the pins, changing nothing: what AcceptTools would accept.
func (o *Orchestrator) ToolChanges(ctx context.Context, server string) ([]ToolChange, error) {
	_, _, pins, _, err := o.listAfresh(ctx, server)
	if err != nil {
		return nil, err
	}
	return o.pins.changes(server, pins)
}

// listAfresh lists a server's tools now, with their pins: the user reviews
// and accepts what the server offers now, not what an older session
// listed.
func (o *Orchestrator) listAfresh(ctx context.Context, server string) (*server, []*mcp.Tool, map[string]pinnedTool, time.Time, error) {
	s, err := o.lookup(server)
	if err != nil {
		return nil, nil, nil, time.Time{}, err
	}
	// Changed and new tools are states, not errors, so an error here is a
	// connection, a collision or a broken pin file: nothing to review.
	if _, err := o.catalogueOf(ctx, s); err != nil {
		return nil, nil, nil, time.Time{}, err
	}
	timeout := s.cfg.Timeout
	if timeout <= 0 {
		timeout = connectors.DefaultTimeout
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	since := s.conn.Status().Since
	tools, err := s.conn.ListTools(lctx)
	if err != nil {
		return nil, nil, nil, time.Time{}, o.connErr(server, "", fmt.Errorf("listing tools: %w", err))
	}
	pins := make(map[string]pinnedTool, len(tools))
	for _, t := range tools {
		p, err := pinOf(t)
		if err != nil {
			return nil, nil, nil, time.Time{}, &Error{Kind: KindPins, Server: server, Tool: t.Name, Msg: fmt.Sprintf("hashing the definition of %s", QualifiedName(server, t.Name)), Err: err}
		}
		pins[t.Name] = p
	}
	return s, tools, pins, since, nil
}
