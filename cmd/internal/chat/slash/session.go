package slash

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/cmd/internal/chat"
	"github.com/mediatorhq/mediator/internal/privfile"
)

// noModel says how to configure a model; direct mode's commands repeat
// it.
const noModel = "No model is configured (direct mode: slash commands only). To chat with a model, add to the config\n\n" +
	"```yaml\nllm: {provider: openai, model: gpt-4o, api_key_secret: openai}\n```\n\n" +
	"(provider: openai, anthropic, google, or openai-compatible with base_url for Ollama, vLLM, LM Studio, llama.cpp, OpenRouter)\n" +
	"and store its API key in the keyring: `mediator secret set llm openai`."

// save writes the conversation as Markdown (agent.Markdown, redacted)
// to a new private file, atomically.
func (c *Commands) save(_ context.Context, args string, out chat.Sink) (chat.Result, error) {
	if c.env.Session == nil {
		return chat.Result{}, errors.New("/save: there is nothing to save: no model is configured (direct mode), so there is no conversation")
	}
	fields, err := splitArgs(args)
	if err != nil {
		return chat.Result{}, fmt.Errorf("/save: %w", err)
	}
	if len(fields) > 1 {
		return chat.Result{}, fmt.Errorf("/save takes at most one file name, got %q (quote a name with spaces)", args)
	}
	now := c.env.Now()
	path := "mediator-chat-" + now.Format("20060102-150405") + ".md"
	if len(fields) == 1 {
		path = fields[0]
	}
	if !filepath.IsAbs(path) && !strings.ContainsRune(path, filepath.Separator) && c.env.SaveDir != "" {
		path = filepath.Join(c.env.SaveDir, path)
	}
	md := agent.Markdown("mediator chat, "+now.Format("2006-01-02 15:04"), c.env.Session.Transcript())
	if err := privfile.Replace(path, []byte(c.env.Redactor.Redact(md)), privfile.FileMode); err != nil {
		return chat.Result{}, fmt.Errorf("/save: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	out.Markdown(fmt.Sprintf("Saved the conversation to `%s`.", abs))
	return chat.Result{}, nil
}

// model shows the model, or switches to NAME.
func (c *Commands) model(_ context.Context, args string, out chat.Sink) (chat.Result, error) {
	if c.env.Session == nil || c.env.ModelName == nil {
		out.Markdown(noModel)
		return chat.Result{}, nil
	}
	fields := strings.Fields(args)
	switch len(fields) {
	case 0:
		out.Markdown(fmt.Sprintf("The model is `%s`. Switch with `/model NAME`.", c.env.ModelName()))
		return chat.Result{}, nil
	case 1:
	default:
		return chat.Result{}, fmt.Errorf("/model takes one model name, got %q", args)
	}
	if c.env.SetModel == nil {
		return chat.Result{}, errors.New("/model: this chat cannot switch models; set llm.model in the config")
	}
	if err := c.env.SetModel(fields[0]); err != nil {
		return chat.Result{}, fmt.Errorf("/model %s: %w", fields[0], err)
	}
	out.Markdown(fmt.Sprintf("The model is now `%s`; the conversation and what its context has seen stay.", c.env.ModelName()))
	return chat.Result{}, nil
}

// auth logs in to an OAuth server: `/auth login SERVER`.
func (c *Commands) auth(ctx context.Context, args string, out chat.Sink) (chat.Result, error) {
	fields := strings.Fields(args)
	if len(fields) == 0 || fields[0] != "login" {
		return chat.Result{}, fmt.Errorf("/auth: the command is /auth login SERVER (got %q); see `mediator auth --help` for the others", args)
	}
	if len(fields) != 2 {
		return chat.Result{}, errors.New("/auth login needs one server: /auth login SERVER")
	}
	server := fields[1]
	if err := c.checkServer("/auth login", server); err != nil {
		return chat.Result{}, err
	}
	if c.env.Login == nil {
		return chat.Result{}, fmt.Errorf("/auth login: this chat cannot log in; run `mediator auth login %s` in a shell", server)
	}
	err := pump(func(emit func(func())) error {
		return c.env.Login(ctx, server, sinkWriter{emit: emit, out: out, red: c.env.Redactor})
	})
	if err != nil {
		return chat.Result{}, fmt.Errorf("/auth login %s: %w", server, err)
	}
	return chat.Result{}, nil
}
