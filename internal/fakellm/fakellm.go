// Package fakellm is a model provider for tests: a loopback HTTP server
// that speaks the real wire formats of OpenAI's chat completions
// (streamed as server-sent events, and whole) and Anthropic's messages
// (streamed, and whole), plays scripted turns (text, tool calls with
// their arguments, usage), and records the body of every request it
// receives, so a test can assert what reached "the model". Real provider
// clients (fantasy's) run against it unchanged.
package fakellm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Turn is one scripted answer of the model.
type Turn struct {
	Text      string
	ToolCalls []ToolCall
	Usage     Usage
}

// ToolCall is a scripted tool call; Args is its JSON text.
type ToolCall struct {
	ID, Name, Args string
}

// Usage is a turn's token counts.
type Usage struct {
	Input, Output int64
}

// Request is one request the server received.
type Request struct {
	Path   string
	Header http.Header
	Body   []byte
}

// Server is a running fake provider. Each request to either API gets the
// next scripted turn; a request past the script, or without the API key,
// gets the API's error.
type Server struct {
	srv    *httptest.Server
	apiKey string

	mu       sync.Mutex
	script   []Turn
	requests []Request
}

// Start starts a server that expects apiKey and answers with script.
// Close it when done.
func Start(apiKey string, script ...Turn) *Server {
	s := &Server{apiKey: apiKey, script: script}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.openAI)
	mux.HandleFunc("POST /v1/messages", s.anthropic)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// OpenAIURL is the base URL an OpenAI client is given ("…/v1").
func (s *Server) OpenAIURL() string { return s.srv.URL + "/v1" }

// AnthropicURL is the base URL an Anthropic client is given.
func (s *Server) AnthropicURL() string { return s.srv.URL }

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Left is how many scripted turns have not been played.
func (s *Server) Left() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.script)
}

// next records r and takes the next turn; ok is false past the script.
func (s *Server) next(r *http.Request) (body []byte, t Turn, ok bool, err error) {
	body, err = io.ReadAll(r.Body)
	if err != nil {
		return nil, Turn{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	if len(s.script) == 0 {
		return body, Turn{}, false, nil
	}
	t, s.script = s.script[0], s.script[1:]
	return body, t, true, nil
}

// streamed reports whether a request body asks for a stream.
func streamed(body []byte) bool {
	var b struct {
		Stream bool `json:"stream"`
	}
	_ = json.Unmarshal(body, &b)
	return b.Stream
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sse writes server-sent events, flushing each.
type sse struct {
	w http.ResponseWriter
	f http.Flusher
}

func newSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	return &sse{w: w, f: f}
}

// send writes one event; an empty event name writes a data-only event.
func (e *sse) send(event string, data any) {
	var b []byte
	switch d := data.(type) {
	case string:
		b = []byte(d)
	default:
		b, _ = json.Marshal(d)
	}
	if event != "" {
		fmt.Fprintf(e.w, "event: %s\n", event)
	}
	fmt.Fprintf(e.w, "data: %s\n\n", b)
	if e.f != nil {
		e.f.Flush()
	}
}

// chunks splits s into pieces of at most n bytes (at least one piece),
// so text and arguments arrive as several deltas, as real streams do.
func chunks(s string, n int) []string {
	if s == "" {
		return []string{""}
	}
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// openAI serves POST /v1/chat/completions.
func (s *Server) openAI(w http.ResponseWriter, r *http.Request) {
	body, t, ok, err := s.next(r)
	switch {
	case err != nil:
		writeJSON(w, http.StatusBadRequest, openAIError("invalid_request_error", err.Error()))
		return
	case r.Header.Get("Authorization") != "Bearer "+s.apiKey:
		writeJSON(w, http.StatusUnauthorized, openAIError("invalid_request_error", "Incorrect API key provided."))
		return
	case !ok:
		writeJSON(w, http.StatusInternalServerError, openAIError("server_error", "fakellm: the script has no more turns"))
		return
	}
	if msg := unansweredOpenAI(body); msg != "" {
		writeJSON(w, http.StatusBadRequest, openAIError("invalid_request_error", msg))
		return
	}
	finish := "stop"
	if len(t.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	usage := map[string]any{"prompt_tokens": t.Usage.Input, "completion_tokens": t.Usage.Output, "total_tokens": t.Usage.Input + t.Usage.Output}
	if !streamed(body) {
		msg := map[string]any{"role": "assistant", "content": t.Text}
		if len(t.ToolCalls) > 0 {
			var calls []map[string]any
			for _, c := range t.ToolCalls {
				calls = append(calls, map[string]any{"id": c.ID, "type": "function", "function": map[string]any{"name": c.Name, "arguments": c.Args}})
			}
			msg["tool_calls"] = calls
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": "fake",
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   usage,
		})
		return
	}
	e := newSSE(w)
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "fake",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	e.send("", chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	if t.Text != "" {
		for _, piece := range chunks(t.Text, 8) {
			e.send("", chunk(map[string]any{"content": piece}, nil))
		}
	}
	for i, c := range t.ToolCalls {
		e.send("", chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": c.ID, "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": ""}}}}, nil))
		for _, piece := range chunks(c.Args, 7) {
			e.send("", chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]any{"arguments": piece}}}}, nil))
		}
	}
	e.send("", chunk(map[string]any{}, finish))
	e.send("", map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "fake",
		"choices": []any{}, "usage": usage})
	e.send("", "[DONE]")
}

func openAIError(typ, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}}
}

// anthropic serves POST /v1/messages.
func (s *Server) anthropic(w http.ResponseWriter, r *http.Request) {
	body, t, ok, err := s.next(r)
	switch {
	case err != nil:
		writeJSON(w, http.StatusBadRequest, anthropicError("invalid_request_error", err.Error()))
		return
	case r.Header.Get("X-Api-Key") != s.apiKey:
		writeJSON(w, http.StatusUnauthorized, anthropicError("authentication_error", "invalid x-api-key"))
		return
	case !ok:
		writeJSON(w, http.StatusInternalServerError, anthropicError("api_error", "fakellm: the script has no more turns"))
		return
	}
	stop := "end_turn"
	if len(t.ToolCalls) > 0 {
		stop = "tool_use"
	}
	if !streamed(body) {
		var content []any
		if t.Text != "" {
			content = append(content, map[string]any{"type": "text", "text": t.Text})
		}
		for _, c := range t.ToolCalls {
			var input any = map[string]any{}
			_ = json.Unmarshal([]byte(c.Args), &input)
			content = append(content, map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": input})
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": "msg_fake", "type": "message", "role": "assistant", "model": "fake", "content": content,
			"stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": t.Usage.Input, "output_tokens": t.Usage.Output},
		})
		return
	}
	e := newSSE(w)
	e.send("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_fake", "type": "message", "role": "assistant", "model": "fake", "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": t.Usage.Input, "output_tokens": 1}}})
	index := 0
	if t.Text != "" {
		e.send("content_block_start", map[string]any{"type": "content_block_start", "index": index,
			"content_block": map[string]any{"type": "text", "text": ""}})
		for _, piece := range chunks(t.Text, 8) {
			e.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": index,
				"delta": map[string]any{"type": "text_delta", "text": piece}})
		}
		e.send("content_block_stop", map[string]any{"type": "content_block_stop", "index": index})
		index++
	}
	for _, c := range t.ToolCalls {
		e.send("content_block_start", map[string]any{"type": "content_block_start", "index": index,
			"content_block": map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": map[string]any{}}})
		for _, piece := range chunks(c.Args, 7) {
			e.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": index,
				"delta": map[string]any{"type": "input_json_delta", "partial_json": piece}})
		}
		e.send("content_block_stop", map[string]any{"type": "content_block_stop", "index": index})
		index++
	}
	e.send("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": t.Usage.Output}})
	e.send("message_stop", map[string]any{"type": "message_stop"})
}

func anthropicError(typ, msg string) map[string]any {
	return map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}}
}

// Bodies joins every request body received, for a test that looks for a
// value in anything sent to the model.
func (s *Server) Bodies() string {
	var b strings.Builder
	for _, r := range s.Requests() {
		b.Write(r.Body)
		b.WriteByte('\n')
	}
	return b.String()
}

// unansweredOpenAI checks, as OpenAI does, that every tool call of an
// assistant message is answered by the tool messages that follow it,
// and says what is wrong, or "".
func unansweredOpenAI(body []byte) string {
	var req struct {
		Messages []struct {
			Role       string `json:"role"`
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID string `json:"id"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return "could not parse the JSON body of your request: " + err.Error()
	}
	for i, m := range req.Messages {
		if len(m.ToolCalls) == 0 {
			continue
		}
		answered := map[string]bool{}
		for _, n := range req.Messages[i+1:] {
			if n.Role != "tool" {
				break
			}
			answered[n.ToolCallID] = true
		}
		for _, c := range m.ToolCalls {
			if !answered[c.ID] {
				return fmt.Sprintf("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: %s", c.ID)
			}
		}
	}
	return ""
}
