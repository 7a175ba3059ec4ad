package config_test

import (
	"fmt"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/credentials"
)

func ExampleConfig_ModelConfig() {
	env := func(k string) (string, bool) {
		if k == "HOME" {
			return "/home/ada", true
		}
		return "", false
	}
	cfg, err := config.Parse("config.yaml", []byte(`
servers:
  weather: {url: https://weather.example.com/mcp}
  calendar: {url: https://calendar.example.com/mcp}
llm:
  provider: anthropic
  model: claude-sonnet-4-5
approvals:
  allow: ["weather.*"]
  ask: [calendar.create_event]
  deny: ["calendar.delete_*"]
`), env)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The key is never in the config: it is the keyring item llm/api_key.
	fmt.Println(cfg.LLM.SetKeyCommand())
	mc := cfg.ModelConfig(credentials.NewSecret("sk-from-the-keyring"))
	fmt.Println(mc.Provider, mc.Model)
	fmt.Println(cfg.AgentApprovals().Ask)
	fmt.Println(cfg.ChatDir())

	_, err = config.Parse("config.yaml", []byte(`
llm:
  provider: openai-compatible
  model: llama3.2
`), env)
	fmt.Println(err)
	// Output:
	// mediator secret set llm api_key
	// anthropic claude-sonnet-4-5
	// [calendar.create_event]
	// /home/ada/.local/state/mediator/chat
	// config.yaml:2:1: llm: base_url is required for provider openai-compatible, e.g. base_url: http://localhost:11434/v1 for Ollama
}
