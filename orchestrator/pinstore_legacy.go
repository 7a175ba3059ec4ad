package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mediatorhq/mediator/internal/filelock"
)

// Mediators before pin format 3 kept every server's pins in one file,
// which every session read and rewrote whole. Its pins (a hash per tool
// over legacyPinOf's fields, and from version 2 the definition hashed) are
// moved into per-server files once, marked legacy; they keep holding, and
// checkPins completes each with the newly pinned fields while the tool
// still matches its old pin.

type legacyPinFile struct {
	Version int                        `json:"version"`
	Servers map[string]legacyServerPin `json:"servers"`
}

type legacyServerPin struct {
	Tools       map[string]string          `json:"tools"`
	Definitions map[string]json.RawMessage `json:"definitions,omitempty"`
	Accepted    time.Time                  `json:"accepted"`
}

// migrate moves the legacy file's pins into per-server files, once per
// store; a server that has a file already keeps it. The legacy file is
// then renamed aside, so later sessions never read it. A legacy file that
// cannot be read fails every server's pins, as it would have before.
func (p *pinStore) migrate(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.migrated || p.legacy == "" {
		return nil
	}
	if _, err := os.Stat(p.legacy); errors.Is(err, fs.ErrNotExist) {
		p.migrated = true
		return nil
	}
	if p.lockDir != "" {
		unlock, err := filelock.LockPath(ctx, filepath.Join(p.lockDir, "pins-migrate.lock"))
		if err != nil {
			return &Error{Kind: KindPins, Msg: "locking the pins to move them into per-server files", Err: err}
		}
		defer unlock()
	}
	data, err := os.ReadFile(p.legacy)
	if errors.Is(err, fs.ErrNotExist) { // another process moved it meanwhile
		p.migrated = true
		return nil
	}
	if err != nil {
		return &Error{Kind: KindPins, Msg: "reading the pin file", Err: err}
	}
	f, err := parseLegacy(p.legacy, data)
	if err != nil {
		return err
	}
	moved, kept := 0, 0
	for server, sp := range f.Servers {
		if _, err := os.Stat(p.path(server)); err == nil {
			kept++
			continue
		}
		pins := make(map[string]pinnedTool, len(sp.Tools))
		for n, hash := range sp.Tools {
			pt := pinnedTool{hash: hash, legacy: true, accepted: sp.Accepted}
			if raw := sp.Definitions[n]; len(raw) > 0 {
				var b bytes.Buffer
				if err := json.Compact(&b, raw); err != nil || digestOf(b.Bytes()) != hash {
					return legacyInvalid(p.legacy, fmt.Sprintf("the definition of %s does not match its hash", QualifiedName(server, n)))
				}
				pt.def = b.Bytes()
			}
			pins[n] = pt
		}
		if err := p.write(server, pins); err != nil {
			return err
		}
		moved++
	}
	aside := p.legacy + ".migrated"
	if err := os.Rename(p.legacy, aside); err != nil {
		// The per-server files are written; the next session moves
		// nothing again, it only reads the old file once more.
		p.log.Warn("could not move the old pin file aside; move it yourself", "file", p.legacy, "error", err)
	}
	p.log.Info("moved the tool pins into a file per server", "from", p.legacy, "to", p.dir,
		"servers", moved, "already_there", kept, "old_file_kept_as", aside)
	p.migrated = true
	return nil
}

func parseLegacy(path string, data []byte) (*legacyPinFile, error) {
	var f legacyPinFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, legacyInvalid(path, jsonErrorPosition(data, err))
	}
	if f.Version != 1 && f.Version != 2 {
		return nil, &Error{Kind: KindPins, Msg: fmt.Sprintf("pin file %s has version %d; this mediator moves versions 1 and 2 into per-server files", path, f.Version)}
	}
	for server := range f.Servers {
		// The name becomes a file name: it must be one a config allows.
		if err := ValidateServerName(server); err != nil {
			return nil, legacyInvalid(path, err.Error())
		}
	}
	return &f, nil
}

func legacyInvalid(path, why string) error {
	return &Error{Kind: KindPins, Msg: fmt.Sprintf("pin file %s is not valid (%s); "+
		"it records which tool definitions you accepted, so mediator will not guess: fix it, or move it aside "+
		"to re-pin every server on next use", path, why)}
}
