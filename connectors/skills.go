package connectors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Skills are the io.modelcontextprotocol/skills extension (SEP-2640): a
// server lists skills (skills/list, skills/get), each an entry naming its
// SKILL.md and every file of the skill with its size and sha256 digest,
// and serves the files as resources. A connector lists entries and reads
// a skill's files only when the skill is loaded, never at connect or
// listing; it reads only files the entry lists, and hands out a file only
// after its size and digest (and for SKILL.md, its frontmatter) match the
// entry. The content is still untrusted: it is what the server wrote.

// SkillsExtension is the extension's key in a server's capabilities.
const SkillsExtension = "io.modelcontextprotocol/skills"

// Limits of SEP-2640: a host must accept a skill up to these, and mediator
// refuses a skill over them (before reading any of its files).
const (
	MaxSkillFiles = 512
	MaxSkillBytes = 16 << 20
)

// Bounds on a listing, so a server cannot make mediator page forever or
// hold an unbounded list.
const (
	maxSkillPages     = 100
	maxSkills         = 1000
	maxSkillListBytes = 16 << 20 // of the entries kept, as encoded
)

const (
	methodListSkills = "skills/list"
	methodGetSkill   = "skills/get"
	skillFileName    = "SKILL.md"
	skillScheme      = "skill://"
)

// Skill is one entry of skills/list or skills/get, as the server sent it.
// Resources is kept raw: an entry whose resources are malformed is still
// listed (Check says what is wrong), but never loaded.
type Skill struct {
	URI         string          `json:"uri"`
	Frontmatter map[string]any  `json:"frontmatter"`
	Resources   json.RawMessage `json:"resources"`
	Meta        map[string]any  `json:"_meta,omitempty"`
}

// SkillFile is one file a skill's entry lists.
type SkillFile struct {
	URI    string `json:"uri"`
	Digest string `json:"digest"` // "sha256:<64 lowercase hex>"
	Size   int64  `json:"size"`
}

// UnmarshalJSON keeps the frontmatter's numbers as written (json.Number),
// so that they compare exactly with SKILL.md's, and leaves Frontmatter nil
// when the server sent something other than an object (Check refuses it).
func (s *Skill) UnmarshalJSON(data []byte) error {
	var w struct {
		URI         string          `json:"uri"`
		Frontmatter json.RawMessage `json:"frontmatter"`
		Resources   json.RawMessage `json:"resources"`
		Meta        map[string]any  `json:"_meta,omitempty"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*s = Skill{URI: w.URI, Resources: w.Resources, Meta: w.Meta}
	dec := json.NewDecoder(bytes.NewReader(w.Frontmatter))
	dec.UseNumber()
	var fm map[string]any
	if dec.Decode(&fm) == nil {
		s.Frontmatter = fm
	}
	return nil
}

// Name is the frontmatter's name, or "" if it has none that is a string.
func (s *Skill) Name() string { return frontmatterString(s.Frontmatter, "name") }

// Description is the frontmatter's description, or "".
func (s *Skill) Description() string { return frontmatterString(s.Frontmatter, "description") }

func frontmatterString(fm map[string]any, key string) string {
	v, _ := fm[key].(string)
	return v
}

// Dynamic reports whether the entry declares resources "dynamic": files
// with no sizes or digests, which mediator cannot verify.
func (s *Skill) Dynamic() bool {
	return string(bytes.TrimSpace(s.Resources)) == `"dynamic"`
}

// SkillError is a skill mediator refuses: its entry breaks SEP-2640's
// rules, or a file read for it does not match the entry. The server is at
// fault. Nothing of a refused file is ever returned.
type SkillError struct {
	Server string
	Skill  string // the entry's URI
	File   string // the file's URI; "" when the entry itself is refused
	Reason string
}

func (e *SkillError) Error() string {
	what := fmt.Sprintf("server %q: skill %s", e.Server, e.Skill)
	if e.File != "" {
		what += fmt.Sprintf(": file %s", e.File)
	}
	return what + ": " + e.Reason
}

// ErrNoSkills is returned, wrapped, for a server whose capabilities do not
// declare the skills extension.
var ErrNoSkills = errors.New("the server does not offer skills (its capabilities do not declare " + SkillsExtension + ")")

var (
	skillNameRule = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	digestRule    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// Check validates the entry against SEP-2640 and returns the files it
// lists: a skill:// URI ending in /SKILL.md whose last path segment is
// the frontmatter's name; a name of 1-64 of a-z, 0-9 and single inner
// hyphens; a description of 1-1024 characters; resources a complete list
// (it holds SKILL.md) of distinct files inside the skill's directory, each
// with a sha256 digest and a size, at most MaxSkillFiles files and
// MaxSkillBytes in all. resources "dynamic" is declined. The error is a
// *SkillError (without Server) saying what is wrong.
func (s *Skill) Check() ([]SkillFile, error) {
	bad := func(format string, args ...any) error {
		return &SkillError{Skill: s.URI, Reason: fmt.Sprintf(format, args...)}
	}
	dir, err := skillDir(s.URI)
	if err != nil {
		return nil, bad("%v", err)
	}
	name, ok := s.Frontmatter["name"].(string)
	switch {
	case !ok:
		return nil, bad("its frontmatter has no name (a string is required)")
	case len(name) < 1 || len(name) > 64 || !skillNameRule.MatchString(name):
		return nil, bad("its name %q is not valid: use 1-64 characters of a-z, 0-9 and '-', with no leading, trailing or double '-'", name)
	case name != lastSegment(dir):
		return nil, bad("its name %q differs from the last segment %q of its URI; they must be equal", name, lastSegment(dir))
	}
	desc, ok := s.Frontmatter["description"].(string)
	if n := utf8.RuneCountInString(desc); !ok || n < 1 || n > 1024 {
		return nil, bad("its description must be a string of 1 to 1024 characters (it is %s)", describeValue(s.Frontmatter["description"]))
	}
	if s.Dynamic() {
		return nil, bad(`its resources are "dynamic": the files carry no size or digest, so mediator cannot verify them and declines to load the skill`)
	}
	var files []SkillFile
	if err := json.Unmarshal(s.Resources, &files); err != nil || s.Resources == nil || bytes.Equal(bytes.TrimSpace(s.Resources), []byte("null")) {
		return nil, bad(`its resources must be a list of {uri, digest, size} or "dynamic" (got %s)`, clip(string(s.Resources), 60))
	}
	if len(files) > MaxSkillFiles {
		return nil, bad("it lists %d files, more than the %d a skill may have", len(files), MaxSkillFiles)
	}
	seen := make(map[string]bool, len(files))
	var total int64
	for i, f := range files {
		where := fmt.Sprintf("resources[%d]", i)
		switch {
		case f.URI == "":
			return nil, bad("%s has no uri", where)
		case seen[f.URI]:
			return nil, bad("%s: %s is listed twice", where, f.URI)
		case !digestRule.MatchString(f.Digest):
			return nil, bad("%s (%s): digest %q is not \"sha256:\" and 64 lowercase hex digits", where, f.URI, clip(f.Digest, 80))
		case f.Size < 0:
			return nil, bad("%s (%s): size %d is negative", where, f.URI, f.Size)
		}
		if err := inSkillDir(dir, f.URI); err != nil {
			return nil, bad("%s: %v", where, err)
		}
		seen[f.URI] = true
		total += f.Size
		if total > MaxSkillBytes {
			return nil, bad("its files add up to more than %d bytes (16 MiB), the most a skill may have", MaxSkillBytes)
		}
	}
	if !seen[s.URI] {
		return nil, bad("its resources do not list its own %s; the list must be complete", skillFileName)
	}
	return files, nil
}

// skillDir checks a SKILL.md URI, skill://<skill-path>/SKILL.md, and
// returns skill://<skill-path>.
func skillDir(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, skillScheme)
	if !ok {
		return "", fmt.Errorf("its URI %q does not start with %q", clip(uri, 80), skillScheme)
	}
	path, ok := strings.CutSuffix(rest, "/"+skillFileName)
	if !ok || path == "" {
		return "", fmt.Errorf("its URI %q is not of the form skill://<skill-path>/%s", clip(uri, 80), skillFileName)
	}
	if err := checkSegments(path); err != nil {
		return "", fmt.Errorf("its URI %q: %v", clip(uri, 80), err)
	}
	return skillScheme + path, nil
}

// inSkillDir checks that a listed file is under the skill's directory.
func inSkillDir(dir, uri string) error {
	rel, ok := strings.CutPrefix(uri, dir+"/")
	if !ok || rel == "" {
		return fmt.Errorf("%q is not inside the skill's directory %s", clip(uri, 80), dir)
	}
	if err := checkSegments(rel); err != nil {
		return fmt.Errorf("%q: %v", clip(uri, 80), err)
	}
	return nil
}

// checkSegments refuses empty, "." and ".." path segments, and query,
// fragment and control characters, which would let a URI name something
// other than it appears to.
func checkSegments(path string) error {
	if strings.ContainsAny(path, "?#\\") || strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("a path may not hold '?', '#', '\\' or control characters")
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("the path has an empty, '.' or '..' segment")
		}
	}
	return nil
}

func lastSegment(dir string) string { return dir[strings.LastIndexByte(dir, '/')+1:] }

func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "missing"
	case string:
		return fmt.Sprintf("%d characters long", utf8.RuneCountInString(v))
	}
	return fmt.Sprintf("a %T", v)
}

// clip shortens a server's text for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// The wire types of skills/list and skills/get.
type listSkillsParams struct {
	mcp.ParamsBase
	// A pointer: "" is a valid cursor and must be sent as one.
	Cursor *string `json:"cursor,omitempty"`
}

type listSkillsResult struct {
	mcp.ResultBase
	// Raw, so that the bytes kept can be counted before they are decoded.
	Skills     []json.RawMessage `json:"skills"`
	NextCursor *string           `json:"nextCursor,omitempty"`
}

type getSkillParams struct {
	mcp.ParamsBase
	URI string `json:"uri"`
}

type getSkillResult struct {
	mcp.ResultBase
	Skill *Skill `json:"skill"`
}

// addSkillMethods lets a client send the skills methods.
func addSkillMethods(c *mcp.Client) {
	// Errors only for a name that shadows a standard method, which these do not.
	_ = mcp.AddSendingCustomMethod[*listSkillsParams, *listSkillsResult](c, methodListSkills)
	_ = mcp.AddSendingCustomMethod[*getSkillParams, *getSkillResult](c, methodGetSkill)
}

// offersSkills reports whether the session's server declares the skills
// extension.
func offersSkills(cs *mcp.ClientSession) bool {
	res := cs.InitializeResult()
	if res == nil || res.Capabilities == nil {
		return false
	}
	_, ok := res.Capabilities.Extensions[SkillsExtension]
	return ok
}

// OffersSkills reports whether the server declares the skills extension,
// connecting first if a connect is under way.
func (c *Connector) OffersSkills(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cs, _, err := c.await(ctx, func() string { return "list skills" })
	if err != nil {
		return false, err
	}
	return offersSkills(cs), nil
}

// ListSkills returns the server's skill entries, following pagination (a
// "" cursor continues the list), at most maxSkills of them, of at most
// maxSkillListBytes, over at most maxSkillPages pages: a longer listing is
// refused. Entries are returned
// as sent; Skill.Check says whether one can be loaded. No file of any
// skill is read. A server without the extension yields an error wrapping
// ErrNoSkills.
func (c *Connector) ListSkills(ctx context.Context) ([]*Skill, error) {
	const op = "list skills"
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cs, st, err := c.await(ctx, func() string { return op })
	if err != nil {
		return nil, err
	}
	if !offersSkills(cs) {
		return nil, c.newError(KindProtocol, fmt.Errorf("%s: %w", op, ErrNoSkills))
	}
	var (
		skills []*Skill
		cursor *string
		size   int
	)
	for range maxSkillPages {
		p := c.newProbe(st)
		res, err := mcp.CallCustomMethod[*listSkillsParams, *listSkillsResult](ctx, cs, methodListSkills, &listSkillsParams{Cursor: cursor})
		if err != nil {
			c.told(ctx, err)
			return nil, c.failed(cs, c.classify(ctx, op, err, p))
		}
		for i, raw := range res.Skills {
			if size += len(raw); size > maxSkillListBytes {
				return nil, c.newError(KindProtocol, fmt.Errorf("%s: the server's skill entries take more than %d bytes; mediator refuses the listing", op, maxSkillListBytes))
			}
			var s Skill
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, c.newError(KindProtocol, fmt.Errorf("%s: skills[%d] of a page is not a skill entry: %v", op, i, err))
			}
			skills = append(skills, &s)
		}
		if len(skills) > maxSkills {
			return nil, c.newError(KindProtocol, fmt.Errorf("%s: the server lists more than %d skills; mediator refuses the listing", op, maxSkills))
		}
		if res.NextCursor == nil {
			return skills, nil
		}
		cursor = res.NextCursor
	}
	return nil, c.newError(KindProtocol, fmt.Errorf("%s: the listing goes on past %d pages; mediator refuses it", op, maxSkillPages))
}

// GetSkill asks the server for one skill's entry by its SKILL.md URI
// (skills/get). No file is read.
func (c *Connector) GetSkill(ctx context.Context, uri string) (*Skill, error) {
	op := func() string { return fmt.Sprintf("get skill %s", uri) }
	res, err := request(ctx, c, op, func(cs *mcp.ClientSession) error {
		if !offersSkills(cs) {
			return c.newError(KindProtocol, fmt.Errorf("%s: %w", op(), ErrNoSkills))
		}
		return nil
	}, func(ctx context.Context, cs *mcp.ClientSession) (*getSkillResult, error) {
		return mcp.CallCustomMethod[*getSkillParams, *getSkillResult](ctx, cs, methodGetSkill, &getSkillParams{URI: uri})
	})
	if err != nil {
		return nil, err
	}
	if res.Skill == nil || res.Skill.URI != uri {
		got := "no skill"
		if res.Skill != nil {
			got = fmt.Sprintf("the skill %q", clip(res.Skill.URI, 80))
		}
		return nil, c.newError(KindProtocol, fmt.Errorf("%s: the server answered with %s", op(), got))
	}
	return res.Skill, nil
}

// LoadedSkill is a skill whose SKILL.md was read and verified.
type LoadedSkill struct {
	Skill *Skill
	Files []SkillFile // every file the entry lists; only SKILL.md was read
	// Content is SKILL.md as the server sent it, verified against the
	// entry's size, digest and frontmatter. It is untrusted text.
	Content []byte
}

// LoadSkill loads a skill: it checks the entry (Skill.Check), then reads
// its SKILL.md, verifies its size and digest, and compares the file's
// frontmatter field by field with the entry's. Other files are not read
// (ReadSkillFile reads one when it is needed). Any mismatch is a
// *SkillError naming the skill, the file and what differed, and nothing
// of the file is returned.
func (c *Connector) LoadSkill(ctx context.Context, s *Skill) (*LoadedSkill, error) {
	files, err := c.checkSkill(s)
	if err != nil {
		return nil, err
	}
	content, err := c.readSkillFile(ctx, s, files, s.URI)
	if err != nil {
		return nil, err
	}
	fm, err := parseFrontmatter(content)
	if err != nil {
		return nil, &SkillError{Server: c.cfg.Name, Skill: s.URI, File: s.URI, Reason: err.Error()}
	}
	if diff := frontmatterDiff(fm, s.Frontmatter); diff != "" {
		return nil, &SkillError{Server: c.cfg.Name, Skill: s.URI, File: s.URI,
			Reason: "its frontmatter does not match the skill's listing: " + diff + "; the skill is not loaded"}
	}
	return &LoadedSkill{Skill: s, Files: files, Content: content}, nil
}

// ReadSkillFile reads one file that the skill's entry lists, verified
// against the entry's size and digest. A URI the entry does not list is
// refused without being read.
func (c *Connector) ReadSkillFile(ctx context.Context, s *Skill, uri string) ([]byte, error) {
	files, err := c.checkSkill(s)
	if err != nil {
		return nil, err
	}
	return c.readSkillFile(ctx, s, files, uri)
}

func (c *Connector) checkSkill(s *Skill) ([]SkillFile, error) {
	files, err := s.Check()
	if err != nil {
		var se *SkillError
		if errors.As(err, &se) {
			se.Server = c.cfg.Name
		}
		return nil, err
	}
	return files, nil
}

// readSkillFile reads uri, one of files, with resources/read and verifies
// it.
func (c *Connector) readSkillFile(ctx context.Context, s *Skill, files []SkillFile, uri string) ([]byte, error) {
	refuse := func(format string, args ...any) error {
		return &SkillError{Server: c.cfg.Name, Skill: s.URI, File: uri, Reason: fmt.Sprintf(format, args...)}
	}
	var want *SkillFile
	for i := range files {
		if files[i].URI == uri {
			want = &files[i]
			break
		}
	}
	if want == nil {
		return nil, refuse("the skill's entry does not list this file, so mediator does not read it")
	}
	var cs *mcp.ClientSession
	res, err := request(ctx, c, func() string { return fmt.Sprintf("read skill file %s", uri) }, nil,
		func(ctx context.Context, session *mcp.ClientSession) (*mcp.ReadResourceResult, error) {
			cs = session
			return session.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		})
	if err != nil {
		return nil, err
	}
	// go-sdk may answer from its read cache (protocol 2026-07-28, ttlMs >
	// 0) with bytes from before the listing changed, and has no way to
	// bypass it; a mismatch then persists until the TTL ends.
	cached := ""
	if ir := cs.InitializeResult(); res.TTLMs > 0 && ir != nil && ir.ProtocolVersion >= "2026-07-28" {
		cached = fmt.Sprintf(" (the server let this read be cached for %d ms: until then go-sdk replays the same bytes)", res.TTLMs)
	}
	if len(res.Contents) != 1 || res.Contents[0] == nil || res.Contents[0].URI != uri {
		return nil, refuse("resources/read did not answer with exactly this file's contents (%d entries)", len(res.Contents))
	}
	rc := res.Contents[0]
	// Copied: cached results are shared with later reads.
	data := []byte(rc.Text)
	if rc.Blob != nil {
		data = bytes.Clone(rc.Blob)
	}
	if int64(len(data)) != want.Size {
		return nil, refuse("size mismatch: the listing says %d bytes, the server sent %d; the file is refused%s", want.Size, len(data), cached)
	}
	sum := sha256.Sum256(data)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != want.Digest {
		return nil, refuse("digest mismatch: the listing says %s, the server sent content with %s; the file is refused%s", want.Digest, got, cached)
	}
	return data, nil
}
