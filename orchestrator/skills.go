package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/suggest"
)

// SkillInfo is one skill a server lists (SEP-2640). A skill is identified
// by its server and URI: two servers' skills of the same name are both
// listed, and neither hides the other.
type SkillInfo struct {
	Server string
	Entry  *connectors.Skill
	// Problem says why the skill cannot be loaded (its entry breaks the
	// extension's rules or mediator's limits, or its files are "dynamic");
	// nil when it can be.
	Problem error
}

// Skill is a loaded skill: its entry and its SKILL.md (or the one file
// ReadSkillFile read), verified against the entry's size and digest, and
// for SKILL.md its frontmatter. Content is still untrusted:
// the server wrote it, as Provenance says.
type Skill struct {
	Server string
	CallID string
	Entry  *connectors.Skill
	Files  []connectors.SkillFile // every file the entry lists; only File was read
	// File is the URI of the file read: SKILL.md's for LoadSkill.
	File string
	// Content is that file as the server sent it.
	Content []byte
	// Provenance is the server plus the provenance of the request (a
	// server may echo what it was sent).
	Provenance Provenance
}

// Skills lists the skills of one server (connecting it if needed), or of
// every connected server that offers skills when server is "". Listing
// reads no skill's files. With "", a server whose listing fails is left
// out and its error joined into the returned error.
func (o *Orchestrator) Skills(ctx context.Context, server string) ([]SkillInfo, error) {
	var out []SkillInfo
	err := o.eachServer(ctx, server, func(caps *mcp.ServerCapabilities) bool {
		_, ok := caps.Extensions[connectors.SkillsExtension]
		return ok
	}, func(ctx context.Context, cfg ServerConfig, conn *connectors.Connector) error {
		entries, err := conn.ListSkills(ctx)
		if err != nil {
			return o.skillErr(cfg.Name, "", err)
		}
		for _, e := range entries {
			_, problem := e.Check()
			var se *connectors.SkillError
			if errors.As(problem, &se) {
				se.Server = cfg.Name
			}
			out = append(out, SkillInfo{Server: cfg.Name, Entry: e, Problem: problem})
		}
		return nil
	})
	return out, err
}

// LoadSkill loads one skill of server, named by its frontmatter name or
// by its SKILL.md URI (skill://...): it fetches the entry (skills/get for
// a URI; the listing for a name, which must name exactly one skill), then
// reads SKILL.md, and only it, and verifies it against the entry. A skill
// whose entry or SKILL.md does not check out is refused (KindSkillRejected)
// and nothing of it is returned.
//
// prov is the provenance of ref (the zero value for the user's own): it
// goes through the data-flow policy before anything is sent. Like Call,
// the request (method "skills/get") and the file read (method
// "resources/read") are audited, and nothing is sent unless it can be.
func (o *Orchestrator) LoadSkill(ctx context.Context, server, ref string, prov Provenance) (*Skill, error) {
	return o.readSkill(ctx, server, ref, "", prov)
}

// ReadSkillFile reads one other file of a skill when it is needed (a
// reference SKILL.md points to): the skill is named as for LoadSkill, and
// file by its URI or its path in the skill's directory
// ("references/FORMS.md"). Only a file the skill's entry lists is read,
// and it is returned only if its size and digest match the entry; the
// Skill's Content is then that file, and File its URI. Audited and
// checked like LoadSkill.
func (o *Orchestrator) ReadSkillFile(ctx context.Context, server, ref, file string, prov Provenance) (*Skill, error) {
	if file == "" {
		return nil, &Error{Kind: KindInvalidArguments, Server: server, Tool: ref, Msg: "no file of the skill named; give its path in the skill (references/FORMS.md) or its skill:// URI"}
	}
	return o.readSkill(ctx, server, ref, file, prov)
}

// readSkill is LoadSkill (file "") and ReadSkillFile: skills/get through
// send, then the file's read, recorded under the same call ID.
func (o *Orchestrator) readSkill(ctx context.Context, server, ref, file string, prov Provenance) (*Skill, error) {
	s, err := o.lookup(server)
	if err != nil {
		return nil, err
	}
	isURI := strings.HasPrefix(ref, "skill://")
	args := map[string]string{"name": ref}
	if isURI {
		args = map[string]string{"uri": ref}
	}
	var entry *connectors.Skill
	req := request{server: server, method: "skills/get", target: ref, tool: ref, argsJSON: mustJSON(args), prov: prov,
		allowed: func(ServerConfig) string { return "" }}
	id, _, flow, err := o.send(ctx, req, func(ctx context.Context, _ *connectors.Connector) error {
		var err error
		entry, err = o.skillEntry(ctx, s, ref, isURI)
		return err
	})
	if err != nil {
		return nil, err
	}

	// The entry is checked before anything is read: a refused entry
	// reads nothing.
	uri := fileURI(entry.URI, file)
	start := time.Now()
	var (
		content []byte
		files   []connectors.SkillFile
	)
	outcome := OutcomeRefused
	if files, err = entry.Check(); err != nil {
		err = o.skillErr(server, entry.URI, err)
	} else if !slices.ContainsFunc(files, func(f connectors.SkillFile) bool { return f.URI == uri }) {
		err = unlistedFile(server, entry, files, uri)
	} else if o.audit != nil {
		err = o.audit.before(ctx, server)
	}
	if err == nil {
		outcome = OutcomeOK
		if file == "" {
			var loaded *connectors.LoadedSkill
			if loaded, err = s.conn.LoadSkill(ctx, entry); err == nil {
				content = loaded.Content
			}
		} else {
			content, err = s.conn.ReadSkillFile(ctx, entry, uri)
		}
		if err != nil {
			err, outcome = o.skillErr(server, entry.URI, err), OutcomeError
		}
	}
	err = o.recordRequest(auditEntry{start: start, callID: id, server: server, tool: uri, method: "resources/read",
		origin: callOriginOf(ctx), argsJSON: mustJSON(map[string]string{"uri": uri}), duration: time.Since(start), flow: flow, outcome: outcome}, err)
	if err != nil {
		return nil, err
	}
	return &Skill{Server: server, CallID: id, Entry: entry, Files: files, File: uri, Content: content,
		Provenance: ProvenanceOf(server).Union(prov)}, nil
}

// unlistedFile refuses a file the skill's entry does not list, naming the
// files it does.
func unlistedFile(server string, entry *connectors.Skill, files []connectors.SkillFile, uri string) *Error {
	dir := strings.TrimSuffix(entry.URI, "SKILL.md")
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = strings.TrimPrefix(f.URI, dir)
	}
	sug := suggest.Ranked(strings.TrimPrefix(uri, dir), paths)
	if n := len(paths); n > 20 {
		paths = append(paths[:20], fmt.Sprintf("and %d more", n-20))
	}
	return &Error{Kind: KindUnknownSkill, Server: server, Tool: entry.URI, Suggestions: sug,
		Msg: fmt.Sprintf("skill %s of server %q lists no file %s, so it is not read%s; its files: %s",
			entry.URI, server, uri, suggest.DidYouMean(sug), strings.Join(paths, ", "))}
}

// fileURI is the URI of file in the skill whose SKILL.md is at skillURI:
// file itself when it is a URI, else its path in the skill's directory.
// "" is SKILL.md.
func fileURI(skillURI, file string) string {
	switch {
	case file == "":
		return skillURI
	case strings.Contains(file, "://"):
		return file
	}
	return strings.TrimSuffix(skillURI, "SKILL.md") + strings.TrimPrefix(file, "/")
}

// skillEntry fetches the entry ref names, once send has connected the
// server and passed the audit barrier. A name that matches no skill, or
// several, is refused (see refusal).
func (o *Orchestrator) skillEntry(ctx context.Context, s *server, ref string, isURI bool) (*connectors.Skill, error) {
	name := s.cfg.Name
	if isURI {
		entry, err := s.conn.GetSkill(ctx, ref)
		if err != nil {
			return nil, o.skillErr(name, ref, err)
		}
		return entry, nil
	}
	entries, err := s.conn.ListSkills(ctx)
	if err != nil {
		return nil, o.skillErr(name, "", err)
	}
	var (
		found []*connectors.Skill
		names []string
	)
	for _, e := range entries {
		if e.Name() == ref {
			found = append(found, e)
		}
		names = append(names, e.Name())
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		slices.Sort(names)
		names = slices.Compact(names)
		sug := suggest.Ranked(ref, names)
		msg := fmt.Sprintf("server %q has no skill named %q%s", name, ref, suggest.DidYouMean(sug))
		if len(sug) == 0 {
			msg += fmt.Sprintf(" (run `mediator skills %s` to list its %d skills)", name, len(entries))
		}
		return nil, &refusal{&Error{Kind: KindUnknownSkill, Server: name, Tool: ref, Suggestions: sug, Msg: msg}}
	}
	uris := make([]string, len(found))
	for i, e := range found {
		uris[i] = e.URI
	}
	return nil, &refusal{&Error{Kind: KindUnknownSkill, Server: name, Tool: ref,
		Msg: fmt.Sprintf("server %q lists %d skills named %q; name the one you mean by its URI: %s", name, len(found), ref, strings.Join(uris, ", "))}}
}

// skillErr classifies a connector's skill failure: a refused skill
// (KindSkillRejected), a server without skills (KindUnknownSkill), or a
// connection failure.
func (o *Orchestrator) skillErr(server, uri string, err error) error {
	var se *connectors.SkillError
	if errors.As(err, &se) {
		se.Server = server
		return &Error{Kind: KindSkillRejected, Server: server, Tool: uri, Err: &redactedError{err: err, msg: o.redact(err.Error())}}
	}
	if errors.Is(err, connectors.ErrNoSkills) {
		return &Error{Kind: KindUnknownSkill, Server: server, Tool: uri, Msg: fmt.Sprintf("server %q does not offer skills (its capabilities do not declare %s)", server, connectors.SkillsExtension)}
	}
	return o.connErr(server, uri, err)
}

// mustJSON encodes the audit arguments of a request mediator builds itself.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings always encode
	}
	return b
}
