package agent

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/privfile"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/orchestrator"
)

// Store keeps saved conversations: one JSON Lines file per session,
// <Dir>/<id>.jsonl, created 0600 in a private (0700) directory. The first
// line is the header ({"header": {id, created, model, servers}}); each
// later line is a transcript entry with its provenance ({"entry": ...}),
// or {"clear": true}, which empties what came before (Session.Clear). Lines
// are only ever appended, each in one write, so a crash loses at most the
// last line, and reading skips a torn one.
//
// Only what the Session's transcript holds is written: results and
// errors are redacted before they enter it, and Redactor, when set, masks
// every secret it knows in the rest too (a key the user typed), so no
// secret mediator knows of is saved.
type Store struct {
	Dir      string
	Redactor *credentials.Redactor
}

// SessionInfo describes a saved session, for `mediator chat sessions`.
type SessionInfo struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Updated is when the file was last written.
	Updated time.Time `json:"updated"`
	Model   string    `json:"model,omitempty"`
	// Servers were connected when the session was created.
	Servers []string `json:"servers,omitempty"`
	// First is the first user message, on one line.
	First string `json:"first,omitempty"`
	// Messages counts the transcript's entries.
	Messages int `json:"messages"`
	// Context is what the context holds: the union of the entries'
	// provenance.
	Context []string `json:"context,omitempty"`
}

// header is the first line of a session file.
type header struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Model   string    `json:"model,omitempty"`
	Servers []string  `json:"servers,omitempty"`
}

// line is one line of a session file: exactly one field is set.
type line struct {
	Header *header `json:"header,omitempty"`
	Entry  *Entry  `json:"entry,omitempty"`
	Clear  bool    `json:"clear,omitempty"`
}

// SessionLog is one saved session, open for appending.
type SessionLog struct {
	path string
	red  *credentials.Redactor

	mu      sync.Mutex
	info    SessionInfo
	written [][]byte // the entries the file holds now, marshalled
	entries []Entry
}

// idRule is what Create makes: a sortable time and a random suffix. Open
// accepts nothing else, so an ID never names a path outside Dir.
var idRule = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$`)

const sessionExt = ".jsonl"

// Create starts a new session file for a conversation with model over
// servers.
func (s Store) Create(model string, servers []string) (*SessionLog, error) {
	if err := privfile.Dir(s.Dir); err != nil {
		return nil, fmt.Errorf("chat sessions: %w", err)
	}
	now := time.Now().UTC()
	var b [3]byte
	_, _ = rand.Read(b[:])
	h := header{ID: now.Format("20060102-150405") + "-" + hex.EncodeToString(b[:]), Created: now, Model: model, Servers: slices.Clone(servers)}
	path := filepath.Join(s.Dir, h.ID+sessionExt)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, privfile.FileMode)
	if err != nil {
		return nil, fmt.Errorf("creating the session file: %w", err)
	}
	defer f.Close()
	data, err := json.Marshal(line{Header: &h})
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return nil, fmt.Errorf("writing session %s: %w", path, err)
	}
	return &SessionLog{path: path, red: s.Redactor, info: SessionInfo{ID: h.ID, Created: h.Created, Updated: now, Model: model, Servers: h.Servers}}, nil
}

// Open reopens the session id. An unknown id is an error that names the
// closest saved ones, or the most recent.
func (s Store) Open(id string) (*SessionLog, error) {
	if idRule.MatchString(id) {
		l, err := readLog(filepath.Join(s.Dir, id+sessionExt))
		if err == nil {
			l.red = s.Redactor
		}
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return l, err
		}
	}
	return nil, s.unknown(id)
}

// unknown says id names no saved session, and which ones there are.
func (s Store) unknown(id string) error {
	infos, _ := s.List()
	if len(infos) == 0 {
		return fmt.Errorf("no saved chat session %q: there are no saved sessions in %s", id, s.Dir)
	}
	var ids []string
	for _, in := range infos {
		ids = append(ids, in.ID)
	}
	near := suggest.Ranked(id, ids)
	if len(near) == 0 {
		near = ids[:min(len(ids), 5)]
		return fmt.Errorf("no saved chat session %q; the most recent: %s (`mediator chat sessions` lists them all)", id, strings.Join(near, ", "))
	}
	return fmt.Errorf("no saved chat session %q; closest: %s (`mediator chat sessions` lists them all)", id, strings.Join(near, ", "))
}

// Latest reopens the most recently written session.
func (s Store) Latest() (*SessionLog, error) {
	infos, err := s.List()
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		return nil, fmt.Errorf("there is no saved chat session to continue in %s", s.Dir)
	}
	return s.Open(infos[0].ID)
}

// List describes the saved sessions, the most recently written first. A
// file that cannot be read is left out.
func (s Store) List() ([]SessionInfo, error) {
	names, err := filepath.Glob(filepath.Join(s.Dir, "*"+sessionExt))
	if err != nil {
		return nil, err
	}
	var out []SessionInfo
	for _, name := range names {
		if !idRule.MatchString(strings.TrimSuffix(filepath.Base(name), sessionExt)) {
			continue
		}
		l, err := readLog(name)
		if err != nil {
			continue
		}
		out = append(out, l.Info())
	}
	slices.SortFunc(out, func(a, b SessionInfo) int {
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// readLog reads a session file: its header, and the entries it holds now.
func readLog(path string) (*SessionLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	l := &SessionLog{path: path}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		var ln line
		if err := json.Unmarshal(sc.Bytes(), &ln); err != nil {
			continue // a torn last line
		}
		switch {
		case n == 1 && ln.Header == nil:
			return nil, fmt.Errorf("%s is not a chat session file: its first line is no header", path)
		case ln.Header != nil:
			h := ln.Header
			l.info = SessionInfo{ID: h.ID, Created: h.Created, Model: h.Model, Servers: h.Servers}
		case ln.Clear:
			l.entries, l.written = nil, nil
		case ln.Entry != nil:
			data, err := json.Marshal(ln.Entry)
			if err != nil {
				continue
			}
			l.entries = append(l.entries, *ln.Entry)
			l.written = append(l.written, data)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	l.info.Updated = fi.ModTime().UTC()
	return l, nil
}

// SetRedactor has Sync mask every secret red knows (see Store.Redactor).
func (l *SessionLog) SetRedactor(red *credentials.Redactor) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.red = red
}

// ID is the session's ID.
func (l *SessionLog) ID() string { return l.info.ID }

// Path is the session's file.
func (l *SessionLog) Path() string { return l.path }

// Entries are the transcript the file holds, with its provenance: what
// Options.Transcript continues.
func (l *SessionLog) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

// Info describes the session as the file holds it.
func (l *SessionLog) Info() SessionInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	in := l.info
	in.Servers = slices.Clone(in.Servers)
	in.Messages = len(l.entries)
	var prov orchestrator.Provenance
	for _, e := range l.entries {
		prov = prov.Union(e.Provenance)
		if in.First == "" && e.Role == RoleUser {
			in.First = oneLine(e.Text)
		}
	}
	in.Context = prov.Servers()
	return in
}

// Sync makes the file hold entries, the conversation as it is now: it
// appends those not yet written, or, when the transcript no longer starts
// with what was written (it was cleared), a clear marker and then all of
// them.
func (l *SessionLog) Sync(entries []Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	marshalled := make([][]byte, len(entries))
	for i, e := range entries {
		data, err := json.Marshal(redactEntry(l.red, e))
		if err != nil {
			return fmt.Errorf("saving session %s: %w", l.info.ID, err)
		}
		marshalled[i] = data
	}
	var buf bytes.Buffer
	from := len(l.written)
	if len(entries) < len(l.written) || !slices.EqualFunc(l.written, marshalled[:len(l.written)], bytes.Equal) {
		buf.WriteString(`{"clear":true}` + "\n")
		from = 0
	}
	for _, data := range marshalled[from:] {
		buf.WriteString(`{"entry":`)
		buf.Write(data)
		buf.WriteString("}\n")
	}
	if buf.Len() == 0 {
		return nil
	}
	f, err := privfile.OpenFile(l.path, os.O_WRONLY|os.O_APPEND)
	if err != nil {
		return fmt.Errorf("saving session %s: %w", l.info.ID, err)
	}
	defer f.Close()
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("saving session %s: %w", l.info.ID, err)
	}
	l.written, l.entries = marshalled, slices.Clone(entries)
	for i, e := range l.entries {
		l.entries[i] = redactEntry(l.red, e)
	}
	l.info.Updated = time.Now().UTC()
	return nil
}

// redactEntry is e with every secret red knows masked.
func redactEntry(red *credentials.Redactor, e Entry) Entry {
	if red == nil {
		return e
	}
	e.Text = red.Redact(e.Text)
	if len(e.ToolCalls) > 0 {
		calls := slices.Clone(e.ToolCalls)
		for i := range calls {
			calls[i].Args = red.Redact(calls[i].Args)
		}
		e.ToolCalls = calls
	}
	if e.Result != nil {
		r := *e.Result
		r.Text = red.Redact(r.Text)
		e.Result = &r
	}
	return e
}
