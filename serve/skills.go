package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The gateway passes the servers' skills (SEP-2640) on: skills/list,
// skills/get and the skill files' resources/read. A skill's URIs name
// their server: skill://<path>/SKILL.md of server notes is offered as
// skill://notes/<path>/SKILL.md (with NoPrefix, unchanged), which keeps
// the last path segment equal to the skill's name, as SEP-2640 wants, and
// round-trips. Only skills whose entries check out are listed; skills/get
// and every file read go through the orchestrator, which verifies
// SKILL.md and each file against the entry (size, digest, frontmatter)
// before anything is returned, and which reads only listed files.

const (
	skillScheme   = "skill://"
	skillFileName = "SKILL.md"
)

type skillListParams struct {
	mcp.ParamsBase
	Cursor *string `json:"cursor,omitempty"`
}

type skillListResult struct {
	mcp.ResultBase
	Skills []json.RawMessage `json:"skills"`
}

type skillGetParams struct {
	mcp.ParamsBase
	URI string `json:"uri"`
}

type skillGetResult struct {
	mcp.ResultBase
	Skill json.RawMessage `json:"skill"`
}

// addSkills registers the skills methods and the skill:// resources.
func (s *Server) addSkills() error {
	if err := mcp.AddReceivingCustomMethod(s.mcp, "skills/list", s.listSkills); err != nil {
		return err
	}
	if err := mcp.AddReceivingCustomMethod(s.mcp, "skills/get", s.getSkill); err != nil {
		return err
	}
	return addTemplate(s.mcp, &mcp.ResourceTemplate{URITemplate: skillScheme + "{+path}", Name: "skills",
		Description: "the files of the skills the servers behind mediator offer (skills/list)"}, s.readSkillFile)
}

// hostSkillURI is the URI the host sees for server's skill URI.
func (s *Server) hostSkillURI(server, uri string) string {
	if s.opts.NoPrefix || !strings.HasPrefix(uri, skillScheme) {
		return uri
	}
	return skillScheme + server + "/" + strings.TrimPrefix(uri, skillScheme)
}

// backendSkillURI maps a URI the host sent back to its server and that
// server's URI; it refuses a server the gateway does not offer.
func (s *Server) backendSkillURI(uri string) (server, backend string, err error) {
	if !strings.HasPrefix(uri, skillScheme) {
		return "", "", fmt.Errorf("%q is not a skill URI (skill://...)", uri)
	}
	if s.opts.NoPrefix {
		return s.opts.Servers[0], uri, nil
	}
	server, rest, ok := strings.Cut(strings.TrimPrefix(uri, skillScheme), "/")
	if !ok || rest == "" || !s.serves(server) {
		return "", "", fmt.Errorf("no skill is offered at %q: skill URIs offered here start with skill://<server>/, for the servers %s", uri, strings.Join(s.servers(), ", "))
	}
	return server, skillScheme + rest, nil
}

// hostEntry is entry as the host sees it: its URIs and its files' URIs
// naming the server.
func (s *Server) hostEntry(server string, entry *connectors.Skill) (json.RawMessage, error) {
	files, err := entry.Check()
	if err != nil {
		return nil, err
	}
	for i := range files {
		files[i].URI = s.hostSkillURI(server, files[i].URI)
	}
	e := *entry
	e.URI = s.hostSkillURI(server, entry.URI)
	if e.Resources, err = json.Marshal(files); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

func (s *Server) listSkills(ctx context.Context, _ *mcp.ServerSession, _ *skillListParams) (*skillListResult, error) {
	o := s.orchestrator()
	res := &skillListResult{Skills: []json.RawMessage{}}
	if o == nil {
		return res, nil
	}
	for _, server := range s.servers() {
		infos, err := o.Skills(ctx, server)
		if err != nil {
			s.log.Debug("serve: no skills listed for the server", "server", server, "error", err)
			continue
		}
		for _, si := range infos {
			if si.Problem != nil {
				continue // it cannot be loaded: not offered
			}
			e, err := s.hostEntry(server, si.Entry)
			if err != nil {
				continue
			}
			res.Skills = append(res.Skills, e)
		}
	}
	return res, nil
}

func (s *Server) getSkill(ctx context.Context, ss *mcp.ServerSession, p *skillGetParams) (*skillGetResult, error) {
	sk, err := s.loadSkill(ctx, ss, p.URI)
	if err != nil {
		return nil, err
	}
	e, err := s.hostEntry(sk.Server, sk.Entry)
	if err != nil {
		return nil, requestError(err)
	}
	return &skillGetResult{Skill: e}, nil
}

// loadSkill loads the skill at the host's uri (its SKILL.md, verified)
// for ss, under its session's provenance, which then includes the
// skill's server.
func (s *Server) loadSkill(ctx context.Context, ss *mcp.ServerSession, uri string) (*orchestrator.Skill, error) {
	if err := s.authorize(ctx, uri); err != nil {
		return nil, requestError(err)
	}
	o := s.orchestrator()
	if o == nil {
		return nil, requestError(fmt.Errorf("skill %q: mediator is not ready yet", uri))
	}
	server, backend, err := s.backendSkillURI(uri)
	if err != nil {
		return nil, requestError(err)
	}
	st := s.sessions.of(s, ss)
	ctx = st.context(ctx, pendingRequest{method: "skills/get", name: uri})
	defer s.inflight.enter(server, st)()
	sk, err := o.LoadSkill(ctx, server, backend, st.provenance())
	if sk != nil {
		st.returned(sk.Provenance)
	}
	if err != nil {
		return nil, requestError(err)
	}
	return sk, nil
}

// readSkillFile reads one file of a skill, named by the host's URI: the
// skill's SKILL.md, or a file its entry lists.
func (s *Server) readSkillFile(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	if strings.HasSuffix(uri, "/"+skillFileName) {
		sk, err := s.loadSkill(ctx, req.Session, uri)
		if err != nil {
			return nil, err
		}
		return skillContents(uri, sk), nil
	}
	// Another file: of the skill whose directory holds it.
	if err := s.authorize(ctx, uri); err != nil {
		return nil, requestError(err)
	}
	o := s.orchestrator()
	if o == nil {
		return nil, requestError(fmt.Errorf("resource %q: mediator is not ready yet", uri))
	}
	server, backend, err := s.backendSkillURI(uri)
	if err != nil {
		return nil, requestError(err)
	}
	skill, err := s.skillOf(ctx, o, server, backend)
	if err != nil {
		return nil, requestError(err)
	}
	st := s.sessions.of(s, req.Session)
	ctx = st.context(ctx, pendingRequest{method: "resources/read", name: uri})
	defer s.inflight.enter(server, st)()
	sk, err := o.ReadSkillFile(ctx, server, skill, backend, st.provenance())
	if sk != nil {
		st.returned(sk.Provenance)
	}
	if err != nil {
		return nil, requestError(err)
	}
	return skillContents(uri, sk), nil
}

func skillContents(uri string, sk *orchestrator.Skill) *mcp.ReadResourceResult {
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "text/markdown", Text: string(sk.Content)}}}
}

// skillOf is the SKILL.md URI of server's listed skill whose directory
// holds file (the deepest, if skills nest).
func (s *Server) skillOf(ctx context.Context, o *orchestrator.Orchestrator, server, file string) (string, error) {
	infos, err := o.Skills(ctx, server)
	if err != nil {
		return "", err
	}
	best := ""
	for _, si := range infos {
		dir := strings.TrimSuffix(si.Entry.URI, skillFileName)
		if si.Problem == nil && strings.HasPrefix(file, dir) && len(si.Entry.URI) > len(best) {
			best = si.Entry.URI
		}
	}
	if best == "" {
		return "", fmt.Errorf("no skill of server %q holds %q", server, file)
	}
	return best, nil
}
