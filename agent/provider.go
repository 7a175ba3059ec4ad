package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"

	"charm.land/fantasy"
	"charm.land/fantasy/providers/anthropic"
	"charm.land/fantasy/providers/google"
	"charm.land/fantasy/providers/openai"
	"charm.land/fantasy/providers/openaicompat"

	"github.com/mediatorhq/mediator/credentials"
)

// Provider names a model provider, as the config's llm.provider does.
type Provider string

const (
	ProviderOpenAI    Provider = "openai"
	ProviderAnthropic Provider = "anthropic"
	ProviderGoogle    Provider = "google"
	// ProviderOpenAICompatible is any server that speaks OpenAI's chat
	// completions: Ollama, vLLM, LM Studio, llama.cpp server, OpenRouter.
	ProviderOpenAICompatible Provider = "openai-compatible"
)

// Providers are the valid Provider values.
var Providers = []Provider{ProviderOpenAI, ProviderAnthropic, ProviderGoogle, ProviderOpenAICompatible}

// Config says which model to use and how to reach it; the config's llm:
// section. The key is a credentials.Secret (the keyring's reserved item
// "llm"); it is revealed only in NewModel, to hand to the provider's
// client, and goes only to BaseURL's origin.
type Config struct {
	Provider Provider
	Model    string
	// BaseURL replaces the provider's API URL; required for
	// openai-compatible.
	BaseURL string
	// APIKey is required except for openai-compatible (a local Ollama
	// needs none).
	APIKey credentials.Secret
	// HTTPClient carries the requests; nil means a client of the model's
	// own (no connection shared with any server's). Either way redirects
	// to another origin are refused, so the key cannot follow one.
	HTTPClient *http.Client
	// MaxOutputTokens caps each answer; 0 leaves the provider's default.
	MaxOutputTokens int64
	// NoStreaming asks for whole answers instead of streamed ones, for
	// openai-compatible servers that stream tool calls badly; Stream then
	// yields the answer's text as one delta.
	NoStreaming bool
}

// Validate says what is wrong with c, naming the config field.
func (c Config) Validate() error {
	switch c.Provider {
	case ProviderOpenAI, ProviderAnthropic, ProviderGoogle, ProviderOpenAICompatible:
	case "":
		return fmt.Errorf("llm.provider is not set (valid: %v)", Providers)
	default:
		return fmt.Errorf("llm.provider: %q is not a provider (valid: %v)", c.Provider, Providers)
	}
	if c.Model == "" {
		return errors.New("llm.model is not set: name the model, e.g. model: gpt-4.1")
	}
	if c.Provider == ProviderOpenAICompatible && c.BaseURL == "" {
		return errors.New("llm.base_url is required for provider openai-compatible (e.g. http://localhost:11434/v1 for Ollama)")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("llm.base_url: %q is not an http(s) URL", c.BaseURL)
		}
	}
	if c.APIKey.IsZero() && c.Provider != ProviderOpenAICompatible {
		return fmt.Errorf("no API key for provider %s: store one with `mediator secret set llm NAME` and name it in llm.api_key_secret", c.Provider)
	}
	return nil
}

// NewModel returns the model c names, speaking its provider's API
// through fantasy.
func NewModel(ctx context.Context, c Config) (Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	client := modelClient(c.HTTPClient)
	key := c.APIKey.Reveal() // handed to the provider's client only
	var (
		p   fantasy.Provider
		err error
	)
	switch c.Provider {
	case ProviderOpenAI:
		opts := []openai.Option{openai.WithHTTPClient(client), openai.WithAPIKey(key)}
		if c.BaseURL != "" {
			opts = append(opts, openai.WithBaseURL(c.BaseURL))
		}
		p, err = openai.New(opts...)
	case ProviderOpenAICompatible:
		opts := []openaicompat.Option{openaicompat.WithHTTPClient(client), openaicompat.WithBaseURL(c.BaseURL)}
		if key != "" {
			opts = append(opts, openaicompat.WithAPIKey(key))
		}
		p, err = openaicompat.New(opts...)
	case ProviderAnthropic:
		opts := []anthropic.Option{anthropic.WithHTTPClient(client), anthropic.WithAPIKey(key)}
		if c.BaseURL != "" {
			opts = append(opts, anthropic.WithBaseURL(c.BaseURL))
		}
		p, err = anthropic.New(opts...)
	case ProviderGoogle:
		opts := []google.Option{google.WithHTTPClient(client), google.WithGeminiAPIKey(key)}
		if c.BaseURL != "" {
			opts = append(opts, google.WithBaseURL(c.BaseURL))
		}
		p, err = google.New(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("setting up provider %s: %w", c.Provider, err)
	}
	lm, err := p.LanguageModel(ctx, c.Model)
	if err != nil {
		return nil, fmt.Errorf("setting up model %s of provider %s: %w", c.Model, c.Provider, err)
	}
	return &fantasyModel{lm: lm, name: string(c.Provider) + "/" + c.Model, maxTokens: c.MaxOutputTokens, noStream: c.NoStreaming}, nil
}

// modelClient is the client model requests go through: base's settings,
// or a transport of the model's own, refusing redirects to another
// origin (the key is in a header some of which, like x-api-key, Go would
// forward).
func modelClient(base *http.Client) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	} else {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
			return fmt.Errorf("model provider redirected to another origin (%s), refused so the API key stays with %s", req.URL.Host, first.Host)
		}
		if len(via) >= 10 {
			return errors.New("model provider redirected 10 times")
		}
		return nil
	}
	return &c
}

// fantasyModel is a Model over a fantasy.LanguageModel.
type fantasyModel struct {
	lm        fantasy.LanguageModel
	name      string
	maxTokens int64
	noStream  bool
}

func (m *fantasyModel) Name() string { return m.name }

func (m *fantasyModel) Stream(ctx context.Context, req Request) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		call := fantasyCall(req)
		if n := cmp.Or(req.MaxOutputTokens, m.maxTokens); n > 0 {
			call.MaxOutputTokens = &n
		}
		if m.noStream {
			m.generate(ctx, call, yield)
			return
		}
		parts, err := m.lm.Stream(ctx, call)
		if err != nil {
			yield(Event{}, m.wrap(err))
			return
		}
		for p := range parts {
			var ev Event
			switch p.Type {
			case fantasy.StreamPartTypeTextDelta:
				ev = Event{Kind: EventText, Text: p.Delta}
			case fantasy.StreamPartTypeToolCall:
				ev = Event{Kind: EventToolCall, ToolCall: ToolCall{ID: p.ID, Name: p.ToolCallName, Args: p.ToolCallInput}}
			case fantasy.StreamPartTypeFinish:
				ev = Event{Kind: EventFinish, Usage: usageOf(p.Usage), Finish: string(p.FinishReason)}
			case fantasy.StreamPartTypeError:
				yield(Event{}, m.wrap(p.Error))
				return
			default:
				continue
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

func (m *fantasyModel) generate(ctx context.Context, call fantasy.Call, yield func(Event, error) bool) {
	resp, err := m.lm.Generate(ctx, call)
	if err != nil {
		yield(Event{}, m.wrap(err))
		return
	}
	if t := resp.Content.Text(); t != "" && !yield(Event{Kind: EventText, Text: t}, nil) {
		return
	}
	for _, tc := range resp.Content.ToolCalls() {
		if !yield(Event{Kind: EventToolCall, ToolCall: ToolCall{ID: tc.ToolCallID, Name: tc.ToolName, Args: tc.Input}}, nil) {
			return
		}
	}
	yield(Event{Kind: EventFinish, Usage: usageOf(resp.Usage), Finish: string(resp.FinishReason)}, nil)
}

func (m *fantasyModel) wrap(err error) error {
	if err == nil {
		err = errors.New("the stream ended with an error it did not describe")
	}
	return fmt.Errorf("model %s: %w", m.name, err)
}

func usageOf(u fantasy.Usage) Usage {
	return Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens}
}

// fantasyCall is req in fantasy's terms.
func fantasyCall(req Request) fantasy.Call {
	var prompt fantasy.Prompt
	if req.System != "" {
		prompt = append(prompt, fantasy.NewSystemMessage(req.System))
	}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleUser:
			prompt = append(prompt, fantasy.NewUserMessage(m.Text))
		case RoleAssistant:
			msg := fantasy.Message{Role: fantasy.MessageRoleAssistant}
			if m.Text != "" {
				msg.Content = append(msg.Content, fantasy.TextPart{Text: m.Text})
			}
			for _, tc := range m.ToolCalls {
				msg.Content = append(msg.Content, fantasy.ToolCallPart{ToolCallID: tc.ID, ToolName: tc.Name, Input: tc.Args})
			}
			prompt = append(prompt, msg)
		case RoleTool:
			r := m.Result
			var out fantasy.ToolResultOutputContent = fantasy.ToolResultOutputContentText{Text: r.Text}
			if r.IsError {
				out = fantasy.ToolResultOutputContentError{Error: errors.New(r.Text)}
			}
			prompt = append(prompt, fantasy.Message{Role: fantasy.MessageRoleTool,
				Content: []fantasy.MessagePart{fantasy.ToolResultPart{ToolCallID: r.CallID, Output: out}}})
		}
	}
	call := fantasy.Call{Prompt: prompt}
	for _, t := range req.Tools {
		call.Tools = append(call.Tools, fantasy.FunctionTool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema})
	}
	return call
}
