package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/internal/suggest"
)

// LLMSecretServer is the keyring's reserved server name for the chat
// model's API key (`mediator secret set llm NAME`); no configured server
// may take it.
const LLMSecretServer = "llm"

// DefaultAPIKeySecret is the keyring item of the model's key when
// llm.api_key_secret is not set.
const DefaultAPIKeySecret = "api_key"

// LLM is the llm block: the model `mediator chat` talks to. The key is
// never in the config: APIKeySecret names its item under the reserved
// server LLMSecretServer.
type LLM struct {
	Provider agent.Provider
	Model    string
	BaseURL  string
	// APIKeySecret is the keyring item holding the key; DefaultAPIKeySecret
	// unless set. KeyNamed says the file set it.
	APIKeySecret string
	KeyNamed     bool
}

// NeedsKey reports whether the provider needs an API key: every one but
// openai-compatible, which needs one only when api_key_secret names it (a
// local Ollama has none).
func (l *LLM) NeedsKey() bool {
	return l.Provider != agent.ProviderOpenAICompatible || l.KeyNamed
}

// SetKeyCommand is the command that stores the model's key.
func (l *LLM) SetKeyCommand() string {
	return "mediator secret set " + LLMSecretServer + " " + l.APIKeySecret
}

// ModelConfig is the llm block as agent.NewModel takes it, with key (zero
// when the provider needs none). It is the one place the config's llm
// block becomes the model's settings.
func (c *Config) ModelConfig(key credentials.Secret) agent.Config {
	l := c.LLM
	if l == nil {
		return agent.Config{}
	}
	return agent.Config{Provider: l.Provider, Model: l.Model, BaseURL: l.BaseURL, APIKey: key}
}

// NoModelAdvice says how to configure a model, for a chat that has none:
// `mediator chat` shows it in direct mode and `mediator chat -p` fails
// with it. configPath is the config file to edit.
func NoModelAdvice(configPath string) string {
	return fmt.Sprintf(`No model is configured, so chat runs in direct mode: slash commands only (/help lists them).
To talk to a model, add an llm section to %s, e.g.

  llm:
    provider: openai        # or anthropic, google, openai-compatible
    model: gpt-4.1
    api_key_secret: %s

and store the key in the keyring (asked for without echo):

  mediator secret set %s %s

For a local server (Ollama, vLLM, LM Studio, llama.cpp) use provider:
openai-compatible with base_url: http://localhost:11434/v1; it needs no key.`,
		configPath, DefaultAPIKeySecret, LLMSecretServer, DefaultAPIKeySecret)
}

// Approvals is the approvals block: globs on "server.tool" that decide
// whether the chat asks before a tool call (see agent.Approvals).
type Approvals struct {
	Allow, Ask, Deny []string
}

// AgentApprovals is the approvals block as agent.Session takes it.
func (c *Config) AgentApprovals() agent.Approvals {
	return agent.Approvals{Allow: c.Approvals.Allow, Ask: c.Approvals.Ask, Deny: c.Approvals.Deny}
}

type rawLLM struct {
	Provider     string `mapstructure:"provider"`
	Model        string `mapstructure:"model"`
	BaseURL      string `mapstructure:"base_url"`
	APIKeySecret string `mapstructure:"api_key_secret"`
}

type rawApprovals struct {
	Allow []string `mapstructure:"allow"`
	Ask   []string `mapstructure:"ask"`
	Deny  []string `mapstructure:"deny"`
}

const llmKeyMsg = `the model's key is never written in the config: store it with "mediator secret set llm NAME" and write api_key_secret: NAME`

var llmSpec = &spec{kind: kObject, fields: map[string]*spec{
	"provider":       {kind: kString},
	"model":          {kind: kString},
	"base_url":       {kind: kString},
	"api_key_secret": {kind: kString},
}, wrong: map[string]string{
	"api_key": llmKeyMsg,
	"apikey":  llmKeyMsg,
	"api-key": llmKeyMsg,
	"key":     llmKeyMsg,
	"token":   llmKeyMsg,
	"secret":  llmKeyMsg,
}}

var approvalsSpec = &spec{kind: kObject, fields: map[string]*spec{
	"allow": {kind: kStrings},
	"ask":   {kind: kStrings},
	"deny":  {kind: kStrings},
}}

// buildLLM checks the llm and approvals blocks and copies them into cfg,
// reporting each problem at its field.
func (w *walker) buildLLM(raw *rawFile, cfg *Config) {
	cfg.Approvals = Approvals{Allow: raw.Approvals.Allow, Ask: raw.Approvals.Ask, Deny: raw.Approvals.Deny}
	for _, l := range []struct {
		name string
		pats []string
	}{{"allow", cfg.Approvals.Allow}, {"ask", cfg.Approvals.Ask}, {"deny", cfg.Approvals.Deny}} {
		for i, p := range l.pats {
			// One rule, one message: agent.Approvals.Validate's.
			var a agent.Approvals
			switch l.name {
			case "allow":
				a.Allow = []string{p}
			case "ask":
				a.Ask = []string{p}
			default:
				a.Deny = []string{p}
			}
			if err := a.Validate(); err != nil {
				field := fmt.Sprintf("approvals.%s[%d]", l.name, i)
				w.at(field, "%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("approvals.%s[0]: ", l.name)))
			}
		}
	}

	if _, set := w.locs["llm"]; !set || w.bad["llm"] {
		return
	}
	r := raw.LLM
	l := &LLM{Provider: agent.Provider(r.Provider), Model: r.Model, BaseURL: r.BaseURL, APIKeySecret: r.APIKeySecret, KeyNamed: r.APIKeySecret != ""}
	if !l.KeyNamed {
		l.APIKeySecret = DefaultAPIKeySecret
	}
	cfg.LLM = l
	var names []string
	for _, p := range agent.Providers {
		names = append(names, string(p))
	}
	switch {
	case w.bad["llm.provider"]:
	case r.Provider == "":
		w.keyAt("llm", "provider is not set; valid: %s", strings.Join(names, ", "))
	case !slices.Contains(agent.Providers, l.Provider):
		w.at("llm.provider", "unknown provider %q%s; valid: %s", r.Provider, suggest.Hint(r.Provider, names), strings.Join(names, ", "))
	}
	if r.Model == "" && !w.bad["llm.model"] {
		w.keyAt("llm", "model is not set: name the model, e.g. model: gpt-4.1")
	}
	switch {
	case w.bad["llm.base_url"]:
	case r.BaseURL == "" && l.Provider == agent.ProviderOpenAICompatible:
		w.keyAt("llm", "base_url is required for provider openai-compatible, e.g. base_url: http://localhost:11434/v1 for Ollama")
	case r.BaseURL != "":
		if u, err := url.Parse(r.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			w.at("llm.base_url", "%q is not an http(s) URL, e.g. https://api.example.com/v1", r.BaseURL)
		}
	}
	if l.KeyNamed && !w.bad["llm.api_key_secret"] {
		if err := credentials.ValidateName("api_key_secret", l.APIKeySecret); err != nil {
			w.at("llm.api_key_secret", "%v", err)
		} else if SecretLikeValue(l.APIKeySecret) {
			w.at("llm.api_key_secret", "%s", llmKeyMsg)
		}
	}
}

// ChatDir holds the saved chat sessions (agent.Store).
func (c *Config) ChatDir() string { return filepath.Join(c.StateDir, "chat") }
