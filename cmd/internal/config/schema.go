package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mediatorhq/mediator/internal/problem"
	"github.com/mediatorhq/mediator/internal/suggest"
	"github.com/mediatorhq/mediator/orchestrator"
)

// The schema is walked on the yaml.Node tree rather than trusted to viper,
// because only the node tree knows where each field is, which keys are
// unknown and how map keys (server names, env vars) were spelled: viper
// lowercases keys.

type kind int

const (
	kString    kind = iota
	kBool           // true/false
	kInt            // a whole number
	kStrings        // list of strings
	kStringMap      // free keys, string values (env, secret_env)
	kHeaderMap      // free keys that are HTTP header names, string values (headers)
	kObject         // fixed keys
	kMapOf          // free keys, object values (servers)
	kSandbox        // "off", or an object (see sandboxSpec)
	kSampling       // deny|ask|allow, or an object (see samplingSpec)
	kObjects        // list of elem objects (serve.http.tokens)
	kAnyMap         // a mapping of any values, kept as written in walker.anys (daemon schedules' inputs)
)

type spec struct {
	kind   kind
	fields map[string]*spec
	elem   *spec
	// wrong maps keys people write by mistake to a message that says what
	// to write instead; %[1]s is the server name. They are never loaded.
	wrong map[string]string
}

func (s *spec) fieldNames() []string {
	names := make([]string, 0, len(s.fields))
	for k := range s.fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

const inlineSecretMsg = `secrets are never written in the config: store the value with "mediator secret set %[1]s NAME" and refer to it as auth.secret: NAME`

// tlsFields are the tls block, and the certificate of the
// `auth: {type: mtls, cert: ...}` form.
var tlsFields = map[string]*spec{
	"cert":        {kind: kString},
	"key_secret":  {kind: kString},
	"key_file":    {kind: kString},
	"ca":          {kind: kString},
	"min_version": {kind: kString},
}

var tlsSpec = &spec{kind: kObject, fields: tlsFields, wrong: map[string]string{
	"key":         `the private key is never written in the config: store it with "mediator secret set %[1]s NAME" and write key_secret: NAME (or key_file: FILE)`,
	"private_key": `the private key is never written in the config: store it with "mediator secret set %[1]s NAME" and write key_secret: NAME (or key_file: FILE)`,
}}

var authSpec = &spec{kind: kObject, fields: map[string]*spec{
	"type":                     {kind: kString},
	"header":                   {kind: kString},
	"secret":                   {kind: kString},
	"client_id":                {kind: kString},
	"client_secret":            {kind: kString},
	"private_key":              {kind: kString},
	"signing_alg":              {kind: kString},
	"auth_method":              {kind: kString},
	"client_metadata_url":      {kind: kString},
	"redirect_url":             {kind: kString},
	"scopes":                   {kind: kStrings},
	"issuer":                   {kind: kString},
	"assertion":                {kind: kString},
	"assertion_file":           {kind: kString},
	"idp_token_endpoint":       {kind: kString},
	"idp_client_id":            {kind: kString},
	"idp_client_secret":        {kind: kString},
	"id_token":                 {kind: kString},
	"dpop":                     {kind: kBool},
	"allow_insecure_localhost": {kind: kBool},
	"cert":                     tlsFields["cert"],
	"key_secret":               tlsFields["key_secret"],
	"key_file":                 tlsFields["key_file"],
	"ca":                       tlsFields["ca"],
	"min_version":              tlsFields["min_version"],
}, wrong: map[string]string{
	"value":       inlineSecretMsg,
	"token":       inlineSecretMsg,
	"key":         inlineSecretMsg,
	"api_key":     inlineSecretMsg,
	"apikey":      inlineSecretMsg,
	"api-key":     inlineSecretMsg,
	"password":    inlineSecretMsg,
	"bearer":      inlineSecretMsg,
	"credential":  inlineSecretMsg,
	"credentials": inlineSecretMsg,
}}

const serverSecretMsg = `secrets are never written in the config: store the value with "mediator secret set %[1]s NAME" and refer to it from auth (HTTP) or secret_env (stdio)`

var serverSpec = &spec{kind: kObject, fields: map[string]*spec{
	"url":        {kind: kString},
	"transport":  {kind: kString},
	"command":    {kind: kString},
	"args":       {kind: kStrings},
	"env":        {kind: kStringMap},
	"secret_env": {kind: kStringMap},
	"headers":    {kind: kHeaderMap},
	"auth":       authSpec,
	"tls":        tlsSpec,
	"tools": {kind: kObject, fields: map[string]*spec{
		"allow": {kind: kStrings},
		"deny":  {kind: kStrings},
	}},
	// Resources and prompts: the same globs as tools, on URIs and names.
	"resources":          filterSpec,
	"prompts":            filterSpec,
	"max_resource_bytes": {kind: kString}, // a number is read as its text
	"timeout":            {kind: kString},
	"max_tools":          {kind: kInt},
	"max_result_bytes":   {kind: kString}, // a number is read as its text
	"sandbox":            sandboxSpec,
	// Client features the server may use (connectors.Host).
	"sampling":    samplingSpec,
	"elicitation": {kind: kString},
	"roots":       {kind: kStrings},
}, wrong: map[string]string{
	"mtls":     `a client certificate goes in tls: {cert: FILE, key_secret: ITEM, ca: FILE}, or auth: {type: mtls, cert: FILE, key_secret: ITEM} when it is the only credential`,
	"type":     `unknown field "type" (did you mean "transport"? valid: streamable-http, sse, stdio)`,
	"token":    serverSecretMsg,
	"api_key":  serverSecretMsg,
	"apikey":   serverSecretMsg,
	"password": serverSecretMsg,
	"secret":   serverSecretMsg,
}}

// filterSpec is an allow/deny filter of globs.
var filterSpec = &spec{kind: kObject, fields: map[string]*spec{
	"allow": {kind: kStrings},
	"deny":  {kind: kStrings},
}}

// sandboxSpec is a stdio server's sandbox: `sandbox: off`, or the paths
// and rights it adds to what the server is granted from its command line.
var sandboxSpec = &spec{kind: kSandbox, fields: map[string]*spec{
	"read":         {kind: kStrings},
	"write":        {kind: kStrings},
	"network":      {kind: kBool},
	"unix_sockets": {kind: kBool},
}}

// samplingSpec is a server's sampling setting: `sampling: ask`, or
// {mode: allow, max_tokens: 1000, models: [NAME...]}.
var samplingSpec = &spec{kind: kSampling, fields: map[string]*spec{
	"mode":       {kind: kString},
	"max_tokens": {kind: kInt},
	"models":     {kind: kStrings},
}}

var fileSpec = &spec{kind: kObject, fields: map[string]*spec{
	"credentials": {kind: kObject, fields: map[string]*spec{
		"backend":  {kind: kString},
		"file_dir": {kind: kString},
	}},
	"servers": {kind: kMapOf, elem: serverSpec},
	"audit": {kind: kObject, fields: map[string]*spec{
		"path":           {kind: kString},
		"include_values": {kind: kBool},
	}},
	"state_dir": {kind: kString},
	"policy":    policySpec,
	"llm":       llmSpec,
	"approvals": approvalsSpec,
	"serve":     serveSpec,
	"daemon":    daemonSpec,
	"engine":    {kind: kString},
	"temporal":  temporalSpec,
	"domains":   {kind: kMapOf, elem: &spec{kind: kStrings}},
}}

// loc is where a field sits in the file, and its value before ${VAR}
// expansion (secret checks look at what the user wrote, not what it became).
type loc struct {
	key, val *yaml.Node
	raw      string
}

// walker checks a node tree against the schema and builds a clean copy
// holding only well-formed fields, with ${VAR} expanded. Viper loads that
// copy, so it never sees an unknown key or a value of the wrong kind.
type walker struct {
	file     string
	env      Env
	problems Problems
	locs     map[string]loc
	// keys keeps the spelling of free map keys per map path.
	keys   map[string][]string
	server string
	// broken holds servers whose entry is not a mapping at all; they are
	// reported once, not again for lacking a url or command.
	broken map[string]bool
	// bad holds fields whose value could not be read or expanded; checks of
	// the value itself would only repeat the problem.
	bad map[string]bool
	// anys holds the kAnyMap values by path; they never reach viper.
	anys map[string]any
}

func (w *walker) badValue(n *yaml.Node, field, format string, args ...any) {
	w.bad[field] = true
	w.problemAt(n, field, format, args...)
}

func (w *walker) problemAt(n *yaml.Node, field, format string, args ...any) {
	p := Problem{Pos: problem.Pos{File: w.file}, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	w.problems = append(w.problems, p)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// value returns the clean copy of n, or nil when n is unusable (a problem
// has then been recorded).
func (w *walker) value(key, n *yaml.Node, s *spec, path string) *yaml.Node {
	n = resolve(n)
	w.locs[path] = loc{key: key, val: n, raw: n.Value}
	switch s.kind {
	case kString:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!bool" {
			w.badValue(n, path, "expected text, got %s", kindName(n))
			return nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: w.expand(n, path)}
	case kBool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			w.badValue(n, path, "expected true or false, got %s", kindName(n))
			return nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: n.Value}
	case kInt:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			got := kindName(n)
			if n.Tag == "!!float" {
				got = n.Value
			}
			w.badValue(n, path, "expected a whole number, e.g. 2000, got %s", got)
			return nil
		}
		if _, err := strconv.Atoi(n.Value); err != nil {
			w.badValue(n, path, "%s is not a whole number this mediator can hold", n.Value)
			return nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: n.Value}
	case kStrings:
		if n.Kind != yaml.SequenceNode {
			w.badValue(n, path, "expected a list, e.g. [a, b], got %s", kindName(n))
			return nil
		}
		out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i, item := range n.Content {
			if c := w.value(nil, item, &spec{kind: kString}, fmt.Sprintf("%s[%d]", path, i)); c != nil {
				out.Content = append(out.Content, c)
			}
		}
		return out
	case kObjects:
		if n.Kind != yaml.SequenceNode {
			w.badValue(n, path, "expected a list of mappings, got %s", kindName(n))
			return nil
		}
		out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i, item := range n.Content {
			c := w.value(nil, item, s.elem, fmt.Sprintf("%s[%d]", path, i))
			if c == nil {
				// An unusable item keeps its place, so the indexes in
				// problems stay those of the file.
				c = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
			out.Content = append(out.Content, c)
		}
		return out
	case kSandbox:
		if n.Kind == yaml.ScalarNode {
			// `sandbox: off` (or false) opts out; on/true is the default.
			switch strings.ToLower(n.Value) {
			case "off", "false":
				return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
					{Kind: yaml.ScalarNode, Tag: "!!str", Value: "off"}, {Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"}}}
			case "on", "true":
				return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
			w.badValue(n, path, "expected off, or a mapping {read: [PATH...], write: [PATH...], network: false, unix_sockets: true}, got %s", kindName(n))
			return nil
		}
		if n.Kind != yaml.MappingNode {
			w.badValue(n, path, "expected off, or a mapping {read: [PATH...], write: [PATH...], network: false, unix_sockets: true}, got %s", kindName(n))
			return nil
		}
		return w.mapping(n, &spec{kind: kObject, fields: s.fields}, path)
	case kSampling:
		const want = "expected deny, ask or allow, or a mapping {mode: allow, max_tokens: 1000, models: [NAME...]}"
		if n.Kind == yaml.ScalarNode {
			// `sampling: ask` is {mode: ask}.
			return w.mapping(&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: "mode", Line: n.Line, Column: n.Column}, n}},
				&spec{kind: kObject, fields: s.fields}, path)
		}
		if n.Kind != yaml.MappingNode {
			w.badValue(n, path, "%s, got %s", want, kindName(n))
			return nil
		}
		return w.mapping(n, &spec{kind: kObject, fields: s.fields}, path)
	case kAnyMap:
		w.anyMap(n, path)
		return nil
	case kStringMap, kHeaderMap, kMapOf, kObject:
		if n.Kind != yaml.MappingNode {
			w.badValue(n, path, "expected a mapping of key: value, got %s", kindName(n))
			return nil
		}
		return w.mapping(n, s, path)
	}
	return nil
}

func (w *walker) mapping(n *yaml.Node, s *spec, path string) *yaml.Node {
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	seen := map[string]*yaml.Node{}
	seenFold := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.problemAt(k, path, "keys must be plain names, got %s", kindName(k))
			continue
		}
		name := k.Value
		field := join(path, name)
		if prev, dup := seen[name]; dup {
			w.problemAt(k, field, "defined twice (first at line %d)", prev.Line)
			continue
		}
		seen[name] = k
		var child *spec
		switch s.kind {
		case kObject:
			if msg, ok := s.wrong[name]; ok {
				w.problemAt(k, field, msg, w.server)
				continue
			}
			child = s.fields[name]
			if child == nil {
				w.problemAt(k, field, "unknown field%s; valid: %s", suggest.Hint(name, s.fieldNames()), strings.Join(s.fieldNames(), ", "))
				continue
			}
		case kStringMap, kHeaderMap:
			child = &spec{kind: kString}
		case kMapOf:
			child = s.elem
		}
		// Names viper would split at a dot or otherwise mangle never
		// reach it.
		switch s.kind {
		case kMapOf:
			if err := orchestrator.ValidateServerName(name); err != nil {
				w.problemAt(k, field, "%v", err)
				continue
			}
		case kStringMap:
			if !validEnvName(name) {
				w.problemAt(k, field, "%q is not an environment variable name; use letters, digits and _, not starting with a digit", name)
				continue
			}
		case kHeaderMap:
			if strings.Contains(name, ".") {
				w.problemAt(k, field, "header name %q has a dot, which the config loader cannot read", name)
				continue
			}
		}
		if s.kind != kObject {
			// The loader under this walker folds case; two keys it would
			// merge must not both reach it.
			fold := strings.ToLower(name)
			if other, clash := seenFold[fold]; clash {
				w.problemAt(k, field, "%q and %q differ only in case, which the config loader cannot tell apart", other, name)
				continue
			}
			seenFold[fold] = name
			w.keys[path] = append(w.keys[path], name)
		}
		if s.kind == kMapOf {
			w.server = name
		}
		if isNull(resolve(v)) {
			w.locs[field] = loc{key: k, val: resolve(v)}
			if s.kind == kMapOf {
				// "weather:" with nothing under it is still a server, so
				// it gets reported as one lacking url or command.
				out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
			}
			continue
		}
		c := w.value(k, v, child, field)
		if c == nil {
			if s.kind == kMapOf {
				w.broken[name] = true
				out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
			}
			continue
		}
		// The location of a whole field is its key.
		l := w.locs[field]
		l.key = k
		w.locs[field] = l
		out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, c)
	}
	return out
}
