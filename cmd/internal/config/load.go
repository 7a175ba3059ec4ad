package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/problem"
)

// LoadOptions says which file to load and from which environment.
type LoadOptions struct {
	Path string
	// Explicit marks a path the user named (--config, MEDIATOR_CONFIG): a
	// missing file is then an error instead of an empty config.
	Explicit bool
	Env      Env
}

// Load reads and validates the config file. A missing default file gives
// an empty config with Found false. A problem of the file as a whole makes
// it unusable: every problem in it is then returned at once, as Problems.
// Problems confined to servers' entries do not stop the others: Load
// returns the config, each such server carries its Problems, and
// Config.Problems lists them all.
func Load(opts LoadOptions) (*Config, error) {
	data, err := os.ReadFile(opts.Path)
	if errors.Is(err, fs.ErrNotExist) {
		if opts.Explicit {
			return nil, fmt.Errorf("config file %s does not exist", opts.Path)
		}
		return Parse(opts.Path, nil, opts.Env)
	}
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := Parse(opts.Path, data, opts.Env)
	if cfg != nil {
		cfg.Found = true
	}
	return cfg, err
}

// rawFile is what viper decodes; the walker has already made sure every
// key is known and every value has the right kind.
type rawFile struct {
	Credentials struct {
		Backend string `mapstructure:"backend"`
		FileDir string `mapstructure:"file_dir"`
	} `mapstructure:"credentials"`
	Servers map[string]rawServer `mapstructure:"servers"`
	Audit   struct {
		Path          string `mapstructure:"path"`
		IncludeValues bool   `mapstructure:"include_values"`
	} `mapstructure:"audit"`
	StateDir  string              `mapstructure:"state_dir"`
	Policy    rawPolicy           `mapstructure:"policy"`
	LLM       rawLLM              `mapstructure:"llm"`
	Approvals rawApprovals        `mapstructure:"approvals"`
	Serve     rawServe            `mapstructure:"serve"`
	Daemon    rawDaemon           `mapstructure:"daemon"`
	Engine    string              `mapstructure:"engine"`
	Temporal  rawTemporal         `mapstructure:"temporal"`
	Domains   map[string][]string `mapstructure:"domains"`
}

// RawTLS is the tls block as viper decodes it (exported only because the
// decoder fills embedded structs by their exported name).
type RawTLS struct {
	Cert       string `mapstructure:"cert"`
	KeySecret  string `mapstructure:"key_secret"`
	KeyFile    string `mapstructure:"key_file"`
	CA         string `mapstructure:"ca"`
	MinVersion string `mapstructure:"min_version"`
}

func (t RawTLS) config() connectors.TLSConfig {
	return connectors.TLSConfig{Cert: t.Cert, KeySecret: t.KeySecret, KeyFile: t.KeyFile, CA: t.CA, MinVersion: t.MinVersion}
}

type rawServer struct {
	Sandbox struct {
		Off         bool     `mapstructure:"off"`
		Read        []string `mapstructure:"read"`
		Write       []string `mapstructure:"write"`
		Network     *bool    `mapstructure:"network"`
		UnixSockets bool     `mapstructure:"unix_sockets"`
	} `mapstructure:"sandbox"`
	URL       string            `mapstructure:"url"`
	Transport string            `mapstructure:"transport"`
	Command   string            `mapstructure:"command"`
	Args      []string          `mapstructure:"args"`
	Env       map[string]string `mapstructure:"env"`
	SecretEnv map[string]string `mapstructure:"secret_env"`
	Headers   map[string]string `mapstructure:"headers"`
	Auth      struct {
		Type                   string   `mapstructure:"type"`
		Header                 string   `mapstructure:"header"`
		Secret                 string   `mapstructure:"secret"`
		ClientID               string   `mapstructure:"client_id"`
		ClientSecret           string   `mapstructure:"client_secret"`
		PrivateKey             string   `mapstructure:"private_key"`
		SigningAlg             string   `mapstructure:"signing_alg"`
		AuthMethod             string   `mapstructure:"auth_method"`
		ClientMetadataURL      string   `mapstructure:"client_metadata_url"`
		RedirectURL            string   `mapstructure:"redirect_url"`
		Scopes                 []string `mapstructure:"scopes"`
		Issuer                 string   `mapstructure:"issuer"`
		Assertion              string   `mapstructure:"assertion"`
		AssertionFile          string   `mapstructure:"assertion_file"`
		IdPTokenEndpoint       string   `mapstructure:"idp_token_endpoint"`
		IdPClientID            string   `mapstructure:"idp_client_id"`
		IdPClientSecret        string   `mapstructure:"idp_client_secret"`
		IDToken                string   `mapstructure:"id_token"`
		DPoP                   bool     `mapstructure:"dpop"`
		AllowInsecureLocalhost bool     `mapstructure:"allow_insecure_localhost"`
		RawTLS                 `mapstructure:",squash"`
	} `mapstructure:"auth"`
	TLS   RawTLS `mapstructure:"tls"`
	Tools struct {
		Allow []string `mapstructure:"allow"`
		Deny  []string `mapstructure:"deny"`
	} `mapstructure:"tools"`
	Timeout        string `mapstructure:"timeout"`
	MaxTools       *int   `mapstructure:"max_tools"`
	MaxResultBytes string `mapstructure:"max_result_bytes"`
	Sampling       struct {
		Mode      string   `mapstructure:"mode"`
		MaxTokens int64    `mapstructure:"max_tokens"`
		Models    []string `mapstructure:"models"`
	} `mapstructure:"sampling"`
	Elicitation string   `mapstructure:"elicitation"`
	Roots       []string `mapstructure:"roots"`
	// Resources and prompts.
	Resources        rawFilter `mapstructure:"resources"`
	Prompts          rawFilter `mapstructure:"prompts"`
	MaxResourceBytes string    `mapstructure:"max_resource_bytes"`
}

type rawFilter struct {
	Allow []string `mapstructure:"allow"`
	Deny  []string `mapstructure:"deny"`
}

// Parse validates config data that came from file (the name is used in
// problems and to resolve relative paths), as Load does. JSON is accepted
// as well as YAML, whatever the file is called.
func Parse(file string, data []byte, env Env) (*Config, error) {
	w := &walker{file: file, env: env, locs: map[string]loc{}, keys: map[string][]string{}, broken: map[string]bool{}, bad: map[string]bool{}, anys: map[string]any{}}
	if p, ok := jsonSyntax(file, data); !ok {
		return nil, Problems{p}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Problems{yamlSyntax(file, data, err)}
	}
	clean := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if len(doc.Content) > 0 {
		root := resolve(doc.Content[0])
		if !isNull(root) {
			if root.Kind != yaml.MappingNode {
				w.problemAt(root, "", "expected a mapping with credentials, servers, audit, state_dir, policy, llm, approvals, serve or daemon at the top, got %s", kindName(root))
				return nil, w.problems
			}
			clean = w.mapping(root, fileSpec, "")
		}
	}

	raw, err := loadWithViper(clean)
	if err != nil {
		// The walker hands viper only well-formed fields, so this is a bug
		// rather than a user error; still, say which file.
		return nil, fmt.Errorf("%s: loading config: %w", file, err)
	}
	cfg := w.build(raw)
	w.validate(cfg)
	w.resolveDefaults(cfg)
	if !cfg.assignProblems(w.problems) {
		return nil, w.problems.sorted()
	}
	return cfg, nil
}

func loadWithViper(clean *yaml.Node) (*rawFile, error) {
	data, err := yaml.Marshal(clean)
	if err != nil {
		return nil, err
	}
	v := viper.New()
	v.SetConfigType("yaml")
	v.SetDefault("credentials.backend", "auto")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, err
	}
	var raw rawFile
	if err := v.UnmarshalExact(&raw); err != nil {
		return nil, err
	}
	return &raw, nil
}

// build copies viper's values into a Config, restoring the spelling of
// server names and env keys that viper folded to lower case.
func (w *walker) build(raw *rawFile) *Config {
	cfg := &Config{
		Path:        w.file,
		Credentials: Credentials{Backend: raw.Credentials.Backend, FileDir: raw.Credentials.FileDir},
		Audit:       Audit{Path: raw.Audit.Path, IncludeValues: raw.Audit.IncludeValues},
		StateDir:    raw.StateDir,
	}
	for _, name := range w.keys["servers"] {
		rs := raw.Servers[strings.ToLower(name)]
		path := "servers." + name
		s := Server{
			Name:      name,
			URL:       rs.URL,
			Transport: rs.Transport,
			Command:   rs.Command,
			Args:      rs.Args,
			Env:       respell(rs.Env, w.keys[path+".env"]),
			SecretEnv: respell(rs.SecretEnv, w.keys[path+".secret_env"]),
			Headers:   respell(rs.Headers, w.keys[path+".headers"]),
			Auth: Auth{connectors.AuthConfig{
				Type: rs.Auth.Type, Header: rs.Auth.Header, Secret: rs.Auth.Secret,
				ClientID: rs.Auth.ClientID, ClientSecret: rs.Auth.ClientSecret, PrivateKey: rs.Auth.PrivateKey,
				SigningAlg: rs.Auth.SigningAlg, AuthMethod: rs.Auth.AuthMethod, ClientMetadataURL: rs.Auth.ClientMetadataURL,
				RedirectURL: rs.Auth.RedirectURL, Scopes: rs.Auth.Scopes, Issuer: rs.Auth.Issuer,
				Assertion: rs.Auth.Assertion, AssertionFile: rs.Auth.AssertionFile,
				IdPTokenEndpoint: rs.Auth.IdPTokenEndpoint, IdPClientID: rs.Auth.IdPClientID,
				IdPClientSecret: rs.Auth.IdPClientSecret, IDToken: rs.Auth.IDToken,
				DPoP: rs.Auth.DPoP, AllowInsecureLocalhost: rs.Auth.AllowInsecureLocalhost,
			}},
			TLS:   w.mergeTLS(path, rs.Auth.Type, rs.Auth.RawTLS, rs.TLS),
			Tools: ToolFilter{Allow: rs.Tools.Allow, Deny: rs.Tools.Deny},
			Sandbox: connectors.SandboxConfig{
				Off: rs.Sandbox.Off, Read: w.paths(path+".sandbox.read", rs.Sandbox.Read), Write: w.paths(path+".sandbox.write", rs.Sandbox.Write),
				NoNetwork: rs.Sandbox.Network != nil && !*rs.Sandbox.Network, UnixSockets: rs.Sandbox.UnixSockets,
			},
			Sampling:    connectors.SamplingConfig{Mode: rs.Sampling.Mode, MaxTokens: rs.Sampling.MaxTokens, Models: rs.Sampling.Models},
			Elicitation: rs.Elicitation,
			Roots:       rs.Roots,
		}
		if rs.Timeout != "" {
			s.Timeout = w.duration(path+".timeout", rs.Timeout)
		}
		s.MaxTools = w.maxTools(path+".max_tools", rs.MaxTools)
		if rs.MaxResultBytes != "" {
			s.MaxResultBytes = w.size(path+".max_result_bytes", rs.MaxResultBytes)
		}
		s.Resources = ToolFilter{Allow: rs.Resources.Allow, Deny: rs.Resources.Deny}
		s.Prompts = ToolFilter{Allow: rs.Prompts.Allow, Deny: rs.Prompts.Deny}
		if rs.MaxResourceBytes != "" {
			s.MaxResourceBytes = w.size(path+".max_resource_bytes", rs.MaxResourceBytes)
		}
		cfg.Servers = append(cfg.Servers, s)
	}
	sort.Slice(cfg.Servers, func(i, j int) bool { return cfg.Servers[i].Name < cfg.Servers[j].Name })
	w.buildPolicy(raw.Policy, cfg)
	w.buildLLM(raw, cfg)
	w.buildServe(raw.Serve, cfg)
	w.buildDaemon(raw.Daemon, cfg)
	w.buildEngine(raw, cfg)
	return cfg
}

// mergeTLS takes the certificate from the tls block or from the auth form
// `auth: {type: mtls, cert: ...}`, which holds it only for type mtls.
func (w *walker) mergeTLS(path, authType string, inAuth, block RawTLS) connectors.TLSConfig {
	if inAuth == (RawTLS{}) {
		return block.config()
	}
	first := ""
	for _, f := range []struct{ name, v string }{{"cert", inAuth.Cert}, {"key_secret", inAuth.KeySecret}, {"key_file", inAuth.KeyFile}, {"ca", inAuth.CA}, {"min_version", inAuth.MinVersion}} {
		if f.v != "" {
			first = path + ".auth." + f.name
			break
		}
	}
	switch {
	case authType != connectors.AuthMTLS:
		w.keyAt(first, "the auth form holds a certificate only for type mtls; for auth type %s put it in tls: {cert: FILE, key_secret: ITEM, ca: FILE}", orNone(authType))
		return block.config()
	case block != (RawTLS{}):
		w.keyAt(first, "the certificate is given both in auth and in tls; keep one (auth: {type: mtls, ...} when it is the only credential, tls: with another auth type)")
		return block.config()
	}
	return inAuth.config()
}

func orNone(t string) string {
	if t == "" {
		return connectors.AuthNone
	}
	return t
}

func respell(folded map[string]string, keys []string) map[string]string {
	if len(keys) == 0 {
		return nil
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		out[k] = folded[strings.ToLower(k)]
	}
	return out
}

// paths makes each path of a list absolute: ~ is the home directory, a
// relative path is relative to the config file.
func (w *walker) paths(field string, ps []string) []string {
	for i, p := range ps {
		ps[i] = w.absPath(fmt.Sprintf("%s[%d]", field, i), p)
	}
	return ps
}

// absPath makes p absolute: ~ is the home directory, a relative path is
// relative to the config file.
func (w *walker) absPath(field, p string) string {
	p, err := ExpandHome(p, w.env)
	if err != nil {
		w.problemAt(w.locs[field].val, field, "%v", err)
		return p
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(w.file), p)
	}
	return filepath.Clean(p)
}

// resolveDefaults fills in the paths the file leaves out and makes the
// ones it gives absolute: ~ is the home directory, a relative path is
// relative to the config file.
func (w *walker) resolveDefaults(cfg *Config) {
	abs := w.absPath
	defaulted := func(field string, p *string, def func(Env) (string, error)) bool {
		if *p != "" {
			*p = abs(field, *p)
			return true
		}
		v, err := def(w.env)
		if err != nil {
			w.problemAt(nil, field, "%v", err)
			return false
		}
		*p = v
		return true
	}
	if !defaulted("credentials.file_dir", &cfg.Credentials.FileDir, DefaultKeyringDir) ||
		!defaulted("state_dir", &cfg.StateDir, DefaultStateDir) {
		return
	}
	if cfg.Audit.Path == "" {
		cfg.Audit.Path = filepath.Join(cfg.StateDir, "audit.jsonl")
	} else {
		cfg.Audit.Path = abs("audit.path", cfg.Audit.Path)
	}
	// Files a server's auth names are relative to the config file too.
	for i := range cfg.Servers {
		s := &cfg.Servers[i]
		p := "servers." + s.Name
		for _, f := range []struct {
			field string
			v     *string
		}{{"auth.assertion_file", &s.Auth.AssertionFile}, {"tls.cert", &s.TLS.Cert}, {"tls.key_file", &s.TLS.KeyFile}, {"tls.ca", &s.TLS.CA}} {
			if *f.v != "" {
				*f.v = abs(w.authField(p, f.field), *f.v)
			}
		}
		for _, list := range []struct {
			field string
			paths []string
		}{{p + ".sandbox.read", s.Sandbox.Read}, {p + ".sandbox.write", s.Sandbox.Write}} {
			for j := range list.paths {
				field := fmt.Sprintf("%s[%d]", list.field, j)
				if why := connectors.ProtectedConflict(list.paths[j], cfg.ProtectedPaths()); why != "" {
					w.at(field, "%s %s, which the sandbox never grants a server; give it a directory of its own", list.paths[j], why)
				}
			}
		}
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// maxLineSearch bounds yamlErrorLine, which parses every prefix of the
// file: beyond it the search would take noticeable time, and the line
// yaml reports is used instead.
const maxLineSearch = 1000

func yamlSyntax(file string, data []byte, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if l := yamlErrorLine(data); l > 0 {
		line = l
	}
	return Problem{Pos: problem.Pos{File: file, Line: line}, Message: "invalid YAML: " + msg + yamlHint(msg)}
}

// yamlErrorLine returns the line that breaks the document: the one after
// the longest run of whole lines that still parses. The "line N" in
// yaml's own errors cannot be used as it is: it names the start of the
// enclosing block or flow collection when there is one, else the
// problem; counts from 0 for parser errors and from 1 for scanner errors;
// and is left out on the first line. 0 means the file is too long to
// search.
func yamlErrorLine(data []byte) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxLineSearch {
		return 0
	}
	good, end := 0, 0
	for i, l := range lines {
		end += len(l)
		var n yaml.Node
		if yaml.Unmarshal(data[:end], &n) == nil {
			good = i + 1
		}
	}
	return min(good+1, len(lines))
}

// yamlHint says what usually causes the messages that puzzle people.
func yamlHint(msg string) string {
	switch msg {
	case "did not find expected ',' or ']'":
		return "; close the [ opened on this line, or separate its items with commas"
	case "did not find expected ',' or '}'":
		return "; close the { opened on this line, or separate its entries with commas"
	case "did not find expected key", "did not find expected '-' indicator":
		return "; check this line's indentation against the lines above"
	case "found a tab character that violates indentation":
		return "; indent with spaces"
	}
	return ""
}

// jsonSyntax checks a .json file strictly (YAML would accept trailing
// commas and comments that other JSON tools then reject).
func jsonSyntax(file string, data []byte) (Problem, bool) {
	if !strings.EqualFold(filepath.Ext(file), ".json") || len(bytes.TrimSpace(data)) == 0 {
		return Problem{}, true
	}
	return strictJSON(file, data)
}

func strictJSON(file string, data []byte) (Problem, bool) {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return Problem{}, true
	}
	p := Problem{Pos: problem.Pos{File: file}, Message: "invalid JSON: " + err.Error()}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		p.Line, p.Column = lineCol(data, se.Offset)
	}
	return p, false
}

func lineCol(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
