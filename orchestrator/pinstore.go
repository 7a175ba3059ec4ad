package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mediatorhq/mediator/internal/filelock"
	"github.com/mediatorhq/mediator/internal/privfile"
)

// pinStore keeps each server's pins in a file of its own, <dir>/<server>.json:
// reading one server's pins never reads another's, so a server with many
// tools slows only itself. A file is replaced atomically (a temp file
// renamed over it) with mode 0600. Changes to one server's pins are made
// one at a time, each on the pins as they are then: within the process by
// a lock per server, and across processes by a lock file in lockDir when
// there is one. Reads take no lock; a rename never shows a torn file. With
// dir "" the pins live in memory.
type pinStore struct {
	dir     string
	legacy  string // the single pin file of older mediators, moved into dir on first use
	lockDir string
	log     *slog.Logger

	mu       sync.Mutex // guards the fields below
	writers  map[string]*sync.Mutex
	mem      map[string]map[string]pinnedTool
	migrated bool
}

func newPinStore(dir, legacy, lockDir string, log *slog.Logger) *pinStore {
	return &pinStore{dir: dir, legacy: legacy, lockDir: lockDir, log: log,
		writers: map[string]*sync.Mutex{}, mem: map[string]map[string]pinnedTool{}}
}

// pinFileVersion is the format of a server's pin file. Versions 1 and 2
// were one file for all servers (see migrate).
const pinFileVersion = 3

// serverPinFile is one server's pin file.
type serverPinFile struct {
	Version int                `json:"version"`
	Server  string             `json:"server"`
	Tools   map[string]toolPin `json:"tools"`
}

type toolPin struct {
	Digest string `json:"digest"`
	// Definition is what Digest is the SHA-256 of, so a change can be
	// shown and not only detected.
	Definition json.RawMessage `json:"definition,omitempty"`
	// Legacy marks a pin an older mediator wrote over the name,
	// description, schemas and annotations only.
	Legacy   bool      `json:"legacy,omitempty"`
	Accepted time.Time `json:"accepted"`
}

func (p *pinStore) path(server string) string { return filepath.Join(p.dir, server+".json") }

// load returns a server's pins and whether it has any file at all (known).
func (p *pinStore) load(ctx context.Context, server string) (map[string]pinnedTool, bool, error) {
	if p.dir == "" {
		p.mu.Lock()
		defer p.mu.Unlock()
		pins, known := p.mem[server]
		return clonePins(pins), known, nil
	}
	if err := p.migrate(ctx); err != nil {
		return nil, false, err
	}
	return p.read(server)
}

// update changes one server's pins: change gets them as they are now and
// returns the new set, or nil to leave them as they are. Its error is
// returned as it is.
func (p *pinStore) update(ctx context.Context, server string, change func(pins map[string]pinnedTool, known bool) (map[string]pinnedTool, error)) error {
	if p.dir == "" {
		p.mu.Lock()
		defer p.mu.Unlock()
		pins, known := p.mem[server]
		next, err := change(clonePins(pins), known)
		if err == nil && next != nil {
			p.mem[server] = next
		}
		return err
	}
	if err := p.migrate(ctx); err != nil {
		return err
	}
	w := p.writer(server)
	w.Lock()
	defer w.Unlock()
	if p.lockDir != "" {
		unlock, err := filelock.LockPath(ctx, filepath.Join(p.lockDir, "pins-"+server+".lock"))
		if err != nil {
			return &Error{Kind: KindPins, Server: server, Msg: fmt.Sprintf("locking the pins of %q", server), Err: err}
		}
		defer unlock()
	}
	pins, known, err := p.read(server)
	if err != nil {
		return err
	}
	next, err := change(pins, known)
	if err != nil || next == nil {
		return err
	}
	return p.write(server, next)
}

func (p *pinStore) writer(server string) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	w, ok := p.writers[server]
	if !ok {
		w = &sync.Mutex{}
		p.writers[server] = w
	}
	return w
}

func clonePins(pins map[string]pinnedTool) map[string]pinnedTool {
	out := make(map[string]pinnedTool, len(pins))
	for n, t := range pins {
		out[n] = t
	}
	return out
}

// read reads one server's pin file and nothing else.
func (p *pinStore) read(server string) (map[string]pinnedTool, bool, error) {
	path := p.path(server)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]pinnedTool{}, false, nil
	}
	if err != nil {
		return nil, false, &Error{Kind: KindPins, Server: server, Msg: "reading the pin file", Err: err}
	}
	invalid := func(why string) error {
		return &Error{Kind: KindPins, Server: server, Msg: fmt.Sprintf("pin file %s is not valid (%s); "+
			"it records which tool definitions you accepted, so mediator will not guess: fix it, or move it aside "+
			"to pin server %q afresh on next use", path, why, server)}
	}
	var f serverPinFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, false, invalid(jsonErrorPosition(data, err))
	}
	switch {
	case f.Version != pinFileVersion:
		return nil, false, invalid(fmt.Sprintf("version %d; this mediator reads version %d", f.Version, pinFileVersion))
	case f.Server != server:
		return nil, false, invalid(fmt.Sprintf("it holds the pins of server %q", f.Server))
	}
	pins := make(map[string]pinnedTool, len(f.Tools))
	for n, t := range f.Tools {
		pt := pinnedTool{hash: t.Digest, legacy: t.Legacy, accepted: t.Accepted}
		if len(t.Definition) > 0 {
			var b bytes.Buffer
			if err := json.Compact(&b, t.Definition); err != nil {
				return nil, false, invalid(fmt.Sprintf("the definition of tool %q: %v", n, err))
			}
			// A definition that is not what the digest is of would show
			// the user a different change than the one checked.
			if digestOf(b.Bytes()) != t.Digest {
				return nil, false, invalid(fmt.Sprintf("the definition of tool %q does not match its digest", n))
			}
			pt.def = b.Bytes()
		}
		pins[n] = pt
	}
	return pins, true, nil
}

func (p *pinStore) write(server string, pins map[string]pinnedTool) error {
	f := serverPinFile{Version: pinFileVersion, Server: server, Tools: make(map[string]toolPin, len(pins))}
	for n, t := range pins {
		f.Tools[n] = toolPin{Digest: t.hash, Definition: t.def, Legacy: t.legacy, Accepted: t.accepted}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return &Error{Kind: KindPins, Server: server, Msg: "encoding the pin file", Err: err}
	}
	if err := privfile.WriteFile(p.path(server), append(data, '\n')); err != nil {
		return &Error{Kind: KindPins, Server: server, Msg: "writing the pin file", Err: err}
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
