package agent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mediatorhq/mediator/agent"
	"github.com/mediatorhq/mediator/credentials"
)

func TestConfigValidate(t *testing.T) {
	key := credentials.NewSecret("k")
	for _, c := range []struct {
		cfg  agent.Config
		want string
	}{
		{agent.Config{Model: "m", APIKey: key}, "llm.provider is not set"},
		{agent.Config{Provider: "azure", Model: "m", APIKey: key}, `llm.provider: "azure" is not a provider (valid: [openai anthropic google openai-compatible])`},
		{agent.Config{Provider: agent.ProviderOpenAI, APIKey: key}, "llm.model is not set"},
		{agent.Config{Provider: agent.ProviderOpenAICompatible, Model: "m"}, "llm.base_url is required"},
		{agent.Config{Provider: agent.ProviderOpenAI, Model: "m", BaseURL: "ftp://x", APIKey: key}, `llm.base_url: "ftp://x"`},
		{agent.Config{Provider: agent.ProviderAnthropic, Model: "m"}, "mediator secret set llm"},
		{agent.Config{Provider: agent.ProviderOpenAICompatible, Model: "m", BaseURL: "http://localhost:11434/v1"}, ""},
	} {
		err := c.cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

// A provider URL that redirects elsewhere does not take the key (nor the
// conversation) along: Anthropic's x-api-key is a header Go's client
// would forward to another host.
func TestKeyNotSentToAnotherOrigin(t *testing.T) {
	const key = "sk-redirect-canary-77"
	var elsewhere atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer evil.Close()
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer provider.Close()
	for _, p := range []agent.Provider{agent.ProviderAnthropic, agent.ProviderOpenAI} {
		m, err := agent.NewModel(context.Background(), agent.Config{Provider: p, Model: "m", BaseURL: provider.URL + "/v1", APIKey: credentials.NewSecret(key)})
		if err != nil {
			t.Fatal(err)
		}
		var got error
		for _, err := range m.Stream(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Text: "hi"}}}) {
			got = err
		}
		if got == nil || !strings.Contains(got.Error(), "redirected to another origin") {
			t.Errorf("%s: got %v, want the redirect refused", p, got)
		}
		if strings.Contains(got.Error(), key) {
			t.Errorf("%s: the error shows the key", p)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other origin got %d requests", n)
	}
}
