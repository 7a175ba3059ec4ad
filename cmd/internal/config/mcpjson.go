package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/problem"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The de facto mcpServers format (Claude Desktop, Claude Code's .mcp.json,
// Cursor, Windsurf, VS Code's "servers") describes each server as
//
//	{"command": "npx", "args": [...], "env": {...}}   stdio
//	{"url": "https://...", "headers": {...}}           HTTP
//	{"type": "http" | "sse" | "stdio", ...}            either, explicitly
//
// with credentials usually inline in headers or env. Import converts each
// entry to mediator's shape and moves every credential out of it.

// ImportedServer is one converted mcpServers entry.
type ImportedServer struct {
	// Name is the server's name in mediator; Source its name in the file.
	Name, Source string
	// Entry is the YAML mapping to write under servers.<Name>. It never
	// holds a secret value.
	Entry *yaml.Node
	// Secrets are the values moved to the keyring, as items of this server.
	Secrets []MovedSecret
	// Notes say what was renamed, dropped or ignored, naming fields only.
	Notes []string
	// Unfilled say why the entry, though valid, cannot be used as written:
	// a keyring item it names has no value yet. Naming fields only.
	Unfilled []string
}

// MovedSecret is one credential taken out of an imported entry.
type MovedSecret struct {
	Item  string // keyring item name
	From  string // e.g. `header "Authorization"`, `env API_KEY`
	As    string // how the config refers to it now, e.g. "auth bearer"
	Value credentials.Secret
}

// mcpEntry is one server as the various clients write it.
type mcpEntry struct {
	Type      string            `yaml:"type"`
	Command   string            `yaml:"command"`
	Args      []string          `yaml:"args"`
	Env       map[string]string `yaml:"env"`
	URL       string            `yaml:"url"`
	ServerURL string            `yaml:"serverUrl"` // Windsurf
	Headers   map[string]string `yaml:"headers"`
	Disabled  bool              `yaml:"disabled"`
}

var knownEntryFields = []string{"type", "command", "args", "env", "url", "serverUrl", "headers", "disabled"}

// ParseMCPServers converts the mcpServers (or VS Code "servers") object of
// file. prefix is prepended to every name. env expands ${VAR} in header
// values, which have nowhere to live in mediator's config but the keyring.
// Every problem of every entry is reported at once.
func ParseMCPServers(file string, data []byte, prefix string, env Env) ([]ImportedServer, error) {
	if p, ok := strictJSON(file, data); !ok {
		return nil, Problems{p}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Problems{yamlSyntax(file, data, err)}
	}
	w := &walker{file: file, env: env, locs: map[string]loc{}, keys: map[string][]string{}, broken: map[string]bool{}, bad: map[string]bool{}}
	if len(doc.Content) == 0 || resolve(doc.Content[0]).Kind != yaml.MappingNode {
		return nil, Problems{{Pos: problem.Pos{File: file, Line: 1}, Message: `expected a JSON object with "mcpServers": {NAME: {command, args, env} or {url, headers}}`}}
	}
	root := resolve(doc.Content[0])
	var servers *yaml.Node
	for _, key := range []string{"mcpServers", "servers"} {
		if _, v := lookup(root, key); v != nil {
			servers = resolve(v)
			break
		}
	}
	if servers == nil || servers.Kind != yaml.MappingNode {
		return nil, Problems{{Pos: problem.Pos{File: file, Line: root.Line, Column: root.Column}, Message: `no "mcpServers" object (or VS Code "servers") in this file`}}
	}

	var out []ImportedServer
	seen := map[string]string{}
	for i := 0; i+1 < len(servers.Content); i += 2 {
		k, v := servers.Content[i], resolve(servers.Content[i+1])
		imp, ok := w.importEntry(k, v, prefix)
		if !ok {
			continue
		}
		if other, dup := seen[strings.ToLower(imp.Name)]; dup {
			w.problemAt(k, "mcpServers."+k.Value, "becomes server %q, as does %q; rename one or use --name-prefix", imp.Name, other)
			continue
		}
		seen[strings.ToLower(imp.Name)] = k.Value
		out = append(out, imp)
	}
	if len(w.problems) > 0 {
		return nil, w.problems.sorted()
	}
	return out, nil
}

var nameJunk = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// serverName makes a name mediator accepts out of a name the other
// clients accepted ("My Server", "github.com/foo"), or says why it can't.
func serverName(prefix, source string) string {
	n := nameJunk.ReplaceAllString(prefix+source, "-")
	for strings.Contains(n, "__") {
		n = strings.ReplaceAll(n, "__", "_")
	}
	n = strings.Trim(n, "-_")
	n = strings.ReplaceAll(strings.ReplaceAll(n, "-_", "-"), "_-", "-")
	return n
}

func (w *walker) importEntry(k, v *yaml.Node, prefix string) (ImportedServer, bool) {
	field := "mcpServers." + k.Value
	before := len(w.problems)
	imp := ImportedServer{Source: k.Value, Name: serverName(prefix, k.Value)}
	if err := orchestrator.ValidateServerName(imp.Name); err != nil {
		w.problemAt(k, field, "%v", err)
		return imp, false
	}
	if imp.Name != prefix+k.Value {
		imp.Notes = append(imp.Notes, fmt.Sprintf("renamed from %q to %q, a valid mediator server name", k.Value, imp.Name))
	}
	w.server = imp.Name
	if v.Kind != yaml.MappingNode {
		w.problemAt(v, field, "expected an object with command or url, got %s", kindName(v))
		return imp, false
	}
	var ignored []string
	for i := 0; i+1 < len(v.Content); i += 2 {
		if !slices.Contains(knownEntryFields, v.Content[i].Value) {
			ignored = append(ignored, v.Content[i].Value)
		}
	}
	var e mcpEntry
	if err := v.Decode(&e); err != nil {
		w.problemAt(v, field, "unexpected shape: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return imp, false
	}
	if e.Disabled {
		imp.Notes = append(imp.Notes, "disabled in the source file; imported anyway")
	}
	if len(ignored) > 0 {
		imp.Notes = append(imp.Notes, "ignored fields mediator has no equivalent for: "+strings.Join(ignored, ", "))
	}
	if e.URL == "" {
		e.URL = e.ServerURL
	}

	entry := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	switch {
	case e.URL != "" && e.Command != "":
		w.problemAt(k, field, "has both url and command; mediator needs one or the other")
	case e.URL != "":
		urlKey := "url"
		if _, n := lookup(v, "url"); n == nil {
			urlKey = "serverUrl"
		}
		w.checkRefs(entryNode(v, urlKey), field+"."+urlKey, e.URL)
		add(entry, "url", str(e.URL))
		switch strings.ToLower(e.Type) {
		case "", "http", "streamable-http", "streamablehttp", "streamable_http":
		case "sse":
			add(entry, "transport", str("sse"))
		default:
			w.problemAt(k, field+".type", "type %q does not go with a url; valid: http, streamable-http, sse", e.Type)
		}
		w.importHeaders(v, field, &e, entry, &imp)
		if len(e.Env) > 0 {
			imp.Notes = append(imp.Notes, "env dropped: an HTTP server gets no environment")
		}
	case e.Command != "":
		if t := strings.ToLower(e.Type); t != "" && t != "stdio" {
			w.problemAt(k, field+".type", "type %q does not go with a command; valid: stdio", e.Type)
		}
		w.checkRefs(entryNode(v, "command"), field+".command", e.Command)
		add(entry, "command", str(e.Command))
		if len(e.Args) > 0 {
			seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
			_, argNodes := lookup(v, "args")
			for i, a := range e.Args {
				n := entryNode(v, "args")
				if argNodes = resolve(argNodes); argNodes != nil && i < len(argNodes.Content) {
					n = argNodes.Content[i]
				}
				w.checkRefs(n, fmt.Sprintf("%s.args[%d]", field, i), a)
				seq.Content = append(seq.Content, str(a))
			}
			add(entry, "args", seq)
		}
		w.importEnv(v, field, &e, entry, &imp)
		if len(e.Headers) > 0 {
			imp.Notes = append(imp.Notes, "headers dropped: a stdio server gets no HTTP headers")
		}
	default:
		w.problemAt(k, field, "has neither command nor url")
	}
	imp.Entry = entry
	return imp, len(w.problems) == before
}

// importHeaders turns the one header that carries a credential into auth,
// with the value moved to the keyring, and keeps the others as plain
// headers, as written (an ${VAR} stays a reference). The split is the one
// config validation makes, so the entry it writes validates.
func (w *walker) importHeaders(v *yaml.Node, field string, e *mcpEntry, entry *yaml.Node, imp *ImportedServer) {
	var auth, plain *yaml.Node
	var authFrom string
	for _, name := range sortedKeys(e.Headers) {
		value, ok := w.expandImport(entryNode(v, "headers", name), field+".headers."+name, e.Headers[name])
		if !ok {
			continue
		}
		isAuthz := strings.EqualFold(name, "Authorization")
		if !isAuthz && !SecretLikeName(name) && !LooksLikeSecret(name, value) {
			if msg := connectors.HeaderProblem(name, value, ""); msg != "" {
				imp.Notes = append(imp.Notes, fmt.Sprintf("header %q dropped: %s", name, msg))
				continue
			}
			if plain == nil {
				plain = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
			add(plain, name, str(e.Headers[name]))
			continue
		}
		if auth != nil {
			w.problemAt(entryNode(v, "headers"), field+".headers", "carries credentials in both %s and header %q; mediator sends one credential header per server", authFrom, name)
			return
		}
		authFrom = fmt.Sprintf("header %q", name)
		ms := MovedSecret{From: authFrom}
		auth = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
		if scheme, token, ok := strings.Cut(value, " "); isAuthz && ok && strings.EqualFold(scheme, "Bearer") {
			ms.Item, ms.As, ms.Value = "token", "auth bearer", credentials.NewSecret(strings.TrimSpace(token))
			add(auth, "type", str("bearer"))
		} else {
			ms.Item = strings.TrimPrefix(SecretItemName(name), "x-")
			ms.As, ms.Value = fmt.Sprintf("auth api-key in header %s", name), credentials.NewSecret(value)
			add(auth, "type", str("api-key"))
			add(auth, "header", str(name))
		}
		add(auth, "secret", str(ms.Item))
		if ms.Value.IsZero() {
			w.problemAt(entryNode(v, "headers", name), field+".headers."+name, "is empty")
			return
		}
		imp.Secrets = append(imp.Secrets, ms)
	}
	if plain != nil {
		add(entry, "headers", plain)
	}
	if auth != nil {
		add(entry, "auth", auth)
	}
}

// expandImport resolves ${VAR} in a header value now: the value goes to the
// keyring, which stores what it is, not how it was spelled. at is where
// the value is in the file.
func (w *walker) expandImport(at *yaml.Node, field, value string) (string, bool) {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: value, Line: at.Line, Column: at.Column}
	before := len(w.problems)
	out := w.expand(n, field)
	return out, len(w.problems) == before
}

func (w *walker) importEnv(v *yaml.Node, field string, e *mcpEntry, entry *yaml.Node, imp *ImportedServer) {
	plain := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	secret := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, name := range sortedKeys(e.Env) {
		value := e.Env[name]
		if !w.checkRefs(entryNode(v, "env", name), field+".env."+name, value) {
			continue
		}
		if envRefPattern.MatchString(value) {
			w.importEnvRef(name, value, plain, secret, imp)
			continue
		}
		if !LooksLikeSecret(name, value) {
			add(plain, name, str(value))
			continue
		}
		item := SecretItemName(name)
		imp.Secrets = append(imp.Secrets, MovedSecret{Item: item, From: "env " + name, As: "secret_env " + name, Value: credentials.NewSecret(value)})
		add(secret, name, str(item))
	}
	if len(plain.Content) > 0 {
		add(entry, "env", plain)
	}
	if len(secret.Content) > 0 {
		add(entry, "secret_env", secret)
	}
}

// envRefPattern finds ${VAR}, ${env:VAR} and ${VAR:-default}; group 2 is
// the default part.
var envRefPattern = regexp.MustCompile(`\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// importEnvRef imports an env value that refers to the importing shell's
// environment. A credential (by the variable's or the reference's name, or
// by what the value resolves to) is resolved now and moved to the keyring,
// as header values are: mediator keeps credentials there, and a ${VAR}
// left in the config would make the server unusable whenever VAR is
// unset. When a credential's VAR is unset now, the config names the
// keyring item anyway and the entry is Unfilled until the user stores it.
// Anything else keeps its reference; one unset now is a problem of the
// server, which the loader reports.
func (w *walker) importEnvRef(name, value string, plain, secret *yaml.Node, imp *ImportedServer) {
	credential := SecretLikeName(name)
	var unset []string
	for _, m := range envRefPattern.FindAllStringSubmatch(value, -1) {
		credential = credential || SecretLikeName(m[1])
		if _, ok := w.env(m[1]); !ok && m[2] == "" && !slices.Contains(unset, m[1]) {
			unset = append(unset, m[1])
		}
	}
	item := SecretItemName(name)
	switch {
	case len(unset) == 0:
		resolved, ok := w.resolveQuietly(value)
		if ok && (LooksLikeSecret(name, resolved) || credential && resolved != "" && !harmlessValue(resolved)) {
			imp.Secrets = append(imp.Secrets, MovedSecret{Item: item, From: "env " + name + " (resolved from " + value + ")", As: "secret_env " + name, Value: credentials.NewSecret(resolved)})
			add(secret, name, str(item))
			return
		}
		add(plain, name, str(value))
	case credential:
		add(secret, name, str(item))
		imp.Unfilled = append(imp.Unfilled, fmt.Sprintf("env %s refers to ${%s}, which is not set now, so no value was moved to the keyring; the config names keyring item %s (secret_env %s); store the value with: mediator secret set %s %s",
			name, strings.Join(unset, "}, ${"), item, name, imp.Name, item))
	default:
		add(plain, name, str(value))
	}
}

// resolveQuietly expands value's references as the loader would, without
// reporting problems: the caller has its own message for them.
func (w *walker) resolveQuietly(value string) (string, bool) {
	scratch := &walker{file: w.file, env: w.env, locs: map[string]loc{}, keys: map[string][]string{}, broken: map[string]bool{}, bad: map[string]bool{}}
	out := scratch.expand(&yaml.Node{Kind: yaml.ScalarNode, Value: value}, "env")
	return out, len(scratch.problems) == 0
}

// entryNode finds the node at path under an entry (a key's value, one
// level per name), for a problem's line: the deepest one that exists.
func entryNode(entry *yaml.Node, path ...string) *yaml.Node {
	n := entry
	for _, key := range path {
		_, next := lookup(resolve(n), key)
		if next == nil {
			break
		}
		n = resolve(next)
	}
	return n
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func str(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, str(key), v)
}

// lookup finds key in a mapping node.
func lookup(m *yaml.Node, key string) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// OnExisting says what AddServers does with an imported server the config
// has already (compared case-insensitively, as the loader does).
type OnExisting int

const (
	// RefuseExisting adds nothing; the error names the servers.
	RefuseExisting OnExisting = iota
	// ReplaceExisting replaces the entries (servers import --force).
	ReplaceExisting
	// SkipExisting leaves the entries as they are and adds the rest
	// (servers import --skip-existing).
	SkipExisting
)

// Existing is an imported server that the config has already.
type Existing struct {
	// Name is the imported server's; Configured and Line are the entry's
	// in the config.
	Name, Configured string
	Line             int
}

// AddServers returns the config file's new content with the servers added
// under servers:, keeping the rest of the file (comments, order, other
// servers) as it was, and the servers it found there already (with
// SkipExisting, those it left out). data is the current content, nil for a
// new file.
func AddServers(path string, data []byte, servers []ImportedServer, on OnExisting) ([]byte, []Existing, error) {
	var doc yaml.Node
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, nil, Problems{yamlSyntax(path, data, err)}
		}
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("%s: the top of the config is not a mapping; fix it before importing", path)
	}
	_, list := lookup(root, "servers")
	switch {
	case list == nil:
		list = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		add(root, "servers", list)
	case isNull(list):
		*list = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	case list.Kind != yaml.MappingNode:
		return nil, nil, fmt.Errorf("%s:%d: servers is not a mapping; fix it before importing", path, list.Line)
	}
	// A block mapping reads better than the flow style "servers: {}" that
	// the first import into an empty list would otherwise keep.
	list.Style = 0

	var existing []Existing
	for _, s := range servers {
		i := -1
		for j := 0; j+1 < len(list.Content); j += 2 {
			if strings.EqualFold(list.Content[j].Value, s.Name) {
				i = j
				break
			}
		}
		if i < 0 {
			add(list, s.Name, s.Entry)
			continue
		}
		existing = append(existing, Existing{Name: s.Name, Configured: list.Content[i].Value, Line: list.Content[i].Line})
		if on == ReplaceExisting {
			list.Content[i].Value = s.Name
			list.Content[i+1] = s.Entry
		}
	}
	if len(existing) > 0 && on == RefuseExisting {
		clashes := make([]string, len(existing))
		for i, e := range existing {
			clashes[i] = fmt.Sprintf("%q (line %d)", e.Configured, e.Line)
		}
		return nil, existing, fmt.Errorf("%s already configures %s; nothing was imported (use --skip-existing to leave those as they are and import the rest, --force to replace them, or --name-prefix to import under other names)", path, strings.Join(clashes, ", "))
	}
	if strings.EqualFold(filepath.Ext(path), ".json") {
		b, err := json.MarshalIndent(nodeJSON{root}, "", "  ")
		if err != nil {
			return nil, nil, err
		}
		return append(b, '\n'), existing, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), existing, nil
}

// EntriesYAML renders imported entries as the servers: block they would
// become, for --dry-run.
func EntriesYAML(servers []ImportedServer) ([]byte, error) {
	list := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, s := range servers {
		add(list, s.Name, s.Entry)
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	add(root, "servers", list)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// nodeJSON writes a YAML node tree as JSON, keeping key order, for config
// files that are JSON.
type nodeJSON struct{ n *yaml.Node }

func (j nodeJSON) MarshalJSON() ([]byte, error) {
	n := resolve(j.n)
	var buf bytes.Buffer
	switch n.Kind {
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			buf.Write(k)
			buf.WriteByte(':')
			v, err := nodeJSON{n.Content[i+1]}.MarshalJSON()
			if err != nil {
				return nil, err
			}
			buf.Write(v)
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			v, err := nodeJSON{c}.MarshalJSON()
			if err != nil {
				return nil, err
			}
			buf.Write(v)
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			buf.WriteString("null")
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			buf.Write(b)
		default:
			b, _ := json.Marshal(n.Value)
			buf.Write(b)
		}
	default:
		return nil, errors.New("unsupported YAML node in a JSON config")
	}
	return buf.Bytes(), nil
}
