package config

import (
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/credentials"
)

func homeEnv(k string) (string, bool) {
	if k == "HOME" {
		return "/home/u", true
	}
	return "", false
}

// The llm and approvals blocks load into the Config and map onto the
// agent's settings in one place; api_key_secret defaults to api_key.
func TestLLMLoads(t *testing.T) {
	src := `llm:
  provider: anthropic
  model: claude-x
  base_url: https://llm.example.com
approvals:
  allow: ["weather.*"]
  ask: [calendar.create_event]
  deny: ["fs.delete_*"]
`
	cfg, err := Parse("/etc/m/config.yaml", []byte(src), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.LLM
	if l == nil || l.Provider != agent.ProviderAnthropic || l.Model != "claude-x" || l.APIKeySecret != DefaultAPIKeySecret || !l.NeedsKey() {
		t.Fatalf("LLM = %+v", l)
	}
	if got := l.SetKeyCommand(); got != "mediator secret set llm api_key" {
		t.Errorf("SetKeyCommand = %q", got)
	}
	key := credentials.NewSecret("k")
	mc := cfg.ModelConfig(key)
	if mc.Provider != agent.ProviderAnthropic || mc.Model != "claude-x" || mc.BaseURL != "https://llm.example.com" || mc.APIKey != key {
		t.Errorf("ModelConfig = %+v", mc)
	}
	a := cfg.AgentApprovals()
	if len(a.Allow) != 1 || a.Ask[0] != "calendar.create_event" || a.Deny[0] != "fs.delete_*" {
		t.Errorf("AgentApprovals = %+v", a)
	}

	// No block: no model (direct mode).
	cfg, err = Parse("/etc/m/config.yaml", nil, homeEnv)
	if err != nil || cfg.LLM != nil {
		t.Fatalf("empty config: LLM = %+v, %v", cfg.LLM, err)
	}
	// A local openai-compatible server needs no key unless one is named.
	cfg, err = Parse("c.yaml", []byte("llm: {provider: openai-compatible, model: llama3, base_url: http://localhost:11434/v1}\n"), homeEnv)
	if err != nil || cfg.LLM.NeedsKey() {
		t.Fatalf("openai-compatible: %+v, %v", cfg.LLM, err)
	}
}

// Each mistake in the llm and approvals blocks is reported at its file,
// line and field, saying what would be valid; a server may not be named
// llm, the keyring's reserved name for the model's key.
func TestLLMProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"compat without base_url", "llm:\n  provider: openai-compatible\n  model: m\n",
			"c.yaml:1:1: llm: base_url is required for provider openai-compatible"},
		{"unknown provider", "llm:\n  provider: opneai\n  model: m\n",
			`c.yaml:2:13: llm.provider: unknown provider "opneai" (did you mean "openai"?); valid: openai, anthropic, google, openai-compatible`},
		{"no model", "llm:\n  provider: openai\n",
			"c.yaml:1:1: llm: model is not set"},
		{"bad url", "llm:\n  provider: openai\n  model: m\n  base_url: ftp://x\n",
			`c.yaml:4:13: llm.base_url: "ftp://x" is not an http(s) URL`},
		{"inline key", "llm:\n  provider: openai\n  model: m\n  api_key: sk-abc\n",
			`c.yaml:4:3: llm.api_key: the model's key is never written in the config: store it with "mediator secret set llm NAME"`},
		{"bad approval glob", "approvals:\n  allow: [ok]\n  deny: [\"fs.[\"]\n",
			`c.yaml:3:10: approvals.deny[0]: "fs.[" is not a valid pattern`},
		{"unknown approvals field", "approvals:\n  alow: [x]\n",
			`c.yaml:2:3: approvals.alow: unknown field (did you mean "allow"?); valid: allow, ask, deny`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.src), homeEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant it to contain %s", err, tc.want)
			}
		})
	}

	cfg, err := Parse("c.yaml", []byte("servers:\n  llm: {url: https://x.example.com/mcp}\n  weather: {url: https://w.example.com/mcp}\n"), homeEnv)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := cfg.Server("llm")
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), `c.yaml:2:3: servers.llm: the server name "llm" is reserved`) {
		t.Errorf("a server named llm: %v", err)
	}
	if len(cfg.ServerConfigs()) != 1 {
		t.Errorf("the server named llm is usable: %+v", cfg.ServerConfigs())
	}
}

// The advice says where to put the llm block and the exact command that
// stores the key.
func TestNoModelAdvice(t *testing.T) {
	a := NoModelAdvice("/home/u/.config/mediator/config.yaml")
	for _, want := range []string{"/home/u/.config/mediator/config.yaml", "llm:", "provider:", "mediator secret set llm api_key", "openai-compatible"} {
		if !strings.Contains(a, want) {
			t.Errorf("advice lacks %q:\n%s", want, a)
		}
	}
}
