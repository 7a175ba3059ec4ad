package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/cmd/internal/prompter"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/connectors/oauth"
	"github.com/mediatorhq/mediator/credentials"
)

// The suite's fixed values: the redirect URI its mock accepts and the
// client ID metadata document URL the basic-cimd scenario expects.
const (
	redirectURL       = "http://localhost:3000/callback"
	clientMetadataURL = "https://conformance-test.local/client-metadata.json"
)

type runner struct {
	log       *slog.Logger
	serverURL string
	scenario  string
	ctx       scenarioContext
}

func (r *runner) run(ctx context.Context) error {
	switch r.scenario {
	case "elicitation-sep1034-client-defaults":
		return r.withHost(ctx, func(ctx context.Context, c *connectors.Connector) error {
			_, err := c.CallTool(ctx, "test_client_elicitation_defaults", nil, nil)
			return err
		})
	case "sep-2322-client-request-state":
		return r.withHost(ctx, func(ctx context.Context, c *connectors.Connector) error {
			for _, name := range []string{"test_mrtr_echo_state", "test_mrtr_no_state", "test_mrtr_unrelated", "test_mrtr_no_result_type"} {
				if _, err := c.CallTool(ctx, name, nil, nil); err != nil {
					// Some of these are meant to be refused by the client.
					r.log.Info("tool call refused", "tool", name, "error", err)
				}
			}
			return nil
		})
	case "http-standard-headers":
		return r.direct(ctx, nil, func(ctx context.Context, cs *mcp.ClientSession) error {
			if tools, err := cs.ListTools(ctx, nil); err == nil && len(tools.Tools) > 0 {
				_, _ = cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.Tools[0].Name, Arguments: map[string]any{}})
			}
			if res, err := cs.ListResources(ctx, nil); err == nil && len(res.Resources) > 0 {
				_, _ = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: res.Resources[0].URI})
			}
			if ps, err := cs.ListPrompts(ctx, nil); err == nil && len(ps.Prompts) > 0 {
				_, _ = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: ps.Prompts[0].Name, Arguments: map[string]string{}})
			}
			return nil
		})
	}

	c, err := r.connector()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		return err
	}
	switch {
	case r.scenario == "initialize", r.scenario == "request-metadata":
		_, err := c.ListTools(ctx)
		return err
	case r.scenario == "tools_call":
		return callIfListed(ctx, c, "add_numbers", map[string]any{"a": 5, "b": 3})
	case r.scenario == "sse-retry":
		return callIfListed(ctx, c, "test_reconnection", nil)
	case r.scenario == "json-schema-ref-no-deref":
		// Listing is the test: mediator must not fetch the network $ref.
		_, err := c.ListTools(ctx)
		return err
	case r.scenario == "json-schema-2020-12-preservation":
		tools, err := c.ListTools(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(tools, func(t *mcp.Tool) bool { return t.Name == "json_schema_2020_12_tool" })
		if i < 0 {
			return fmt.Errorf("tool json_schema_2020_12_tool not listed")
		}
		_, err = c.CallTool(ctx, "json_schema_echo", map[string]any{"schema": tools[i].InputSchema}, nil)
		return err
	case r.scenario == "http-custom-headers":
		if _, err := c.ListTools(ctx); err != nil {
			return err
		}
		for _, tc := range r.ctx.ToolCalls {
			if _, err := c.CallTool(ctx, tc.Name, tc.Arguments, nil); err != nil {
				r.log.Info("tool call refused", "tool", tc.Name, "error", err)
			}
		}
		return nil
	case r.scenario == "http-invalid-tool-headers":
		tools, err := c.ListTools(ctx)
		if err != nil {
			return err
		}
		for _, t := range tools {
			if _, err := c.CallTool(ctx, t.Name, map[string]any{"region": "us-west1"}, nil); err != nil {
				r.log.Info("tool call refused", "tool", t.Name, "error", err)
			}
		}
		return nil
	case strings.HasPrefix(r.scenario, "auth/"):
		if _, err := c.ListTools(ctx); err != nil {
			return err
		}
		_, err := c.CallTool(ctx, "test-tool", nil, nil)
		return err
	default:
		_, err := c.ListTools(ctx)
		return err
	}
}

func callIfListed(ctx context.Context, c *connectors.Connector, name string, args map[string]any) error {
	tools, err := c.ListTools(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(tools, func(t *mcp.Tool) bool { return t.Name == name }) {
		return fmt.Errorf("tool %q not listed", name)
	}
	_, err = c.CallTool(ctx, name, args, nil)
	return err
}

// Names of the keyring items the scenario's credentials are put in.
const (
	itemClientSecret = "client-secret"
	itemPrivateKey   = "private-key"
	itemAssertion    = "workload-jwt"
	itemIDToken      = "sso-id-token"
)

// serverConfig is the scenario as a server of mediator's config, and its
// keyring items: what `auth:` a user would write for such a server.
func (r *runner) serverConfig() (connectors.Config, keyring) {
	c := r.ctx
	items := keyring{}
	item := func(name, value string) string {
		if value == "" {
			return ""
		}
		items[name] = credentials.NewSecret(value)
		return name
	}
	a := connectors.AuthConfig{AllowInsecureLocalhost: true, DPoP: true}
	switch r.scenario {
	case "auth/client-credentials-jwt":
		a.Type = connectors.AuthClientCredentials
		a.ClientID = c.ClientID
		a.PrivateKey = item(itemPrivateKey, c.PrivateKeyPEM)
		a.SigningAlg = c.SigningAlgorithm
	case "auth/client-credentials-basic":
		a.Type = connectors.AuthClientCredentials
		a.ClientID = c.ClientID
		a.ClientSecret = item(itemClientSecret, c.ClientSecret)
	case "auth/wif-jwt-bearer":
		a.Type = connectors.AuthJWTBearer
		a.ClientID = c.ClientID
		a.Assertion = item(itemAssertion, c.ValidJWT)
	case "auth/enterprise-managed-authorization":
		a.Type = connectors.AuthEnterprise
		a.ClientID = c.ClientID
		a.ClientSecret = item(itemClientSecret, c.ClientSecret)
		a.IdPTokenEndpoint = c.IDPTokenEndpoint
		a.IdPClientID = c.IDPClientID
		a.IDToken = item(itemIDToken, c.IDPIDToken)
	default:
		a.Type = connectors.AuthOAuth
		a.RedirectURL = redirectURL
		a.ClientMetadataURL = clientMetadataURL
		a.ClientID = c.ClientID
		a.ClientSecret = item(itemClientSecret, c.ClientSecret)
	}
	return connectors.Config{Name: "conformance", URL: r.serverURL, Transport: connectors.TransportStreamableHTTP, Auth: a}, items
}

// keyring is the scenario's keyring items, in memory.
type keyring map[string]credentials.Secret

func (k keyring) Secret(_ context.Context, name string) (credentials.Secret, error) {
	if s, ok := k[name]; ok {
		return s, nil
	}
	return credentials.Secret{}, fmt.Errorf("keyring item %q: %w", name, credentials.ErrNotFound)
}

// connector is the production path: connectors.New from the scenario's
// config, logged in by the headless user agent.
func (r *runner) connector() (*connectors.Connector, error) {
	cfg, items := r.serverConfig()
	var host connectors.Host
	if r.scenario == "request-metadata" {
		// The scenario checks the client features a client declares:
		// declare them all, as a front end with a user would.
		cfg.Sampling = connectors.SamplingConfig{Mode: connectors.SamplingAsk}
		cfg.Roots = []string{os.TempDir()}
		host = connectors.Host{Elicit: prompter.AcceptDefaults, Sample: rejectSampling}
	}
	return connectors.New(connectors.Options{
		Config:     cfg,
		Host:       host,
		Secrets:    items,
		TokenStore: oauth.NewMemoryStore(),
		Login:      &connectors.Login{Fetcher: &oauth.HeadlessFetcher{}},
		Logger:     r.log,
		ClientInfo: &mcp.Implementation{Name: "mediator-conformance-client", Version: "dev"},
	})
}

// rejectSampling answers a sampling request as a user who declines it:
// the harness has no model.
func rejectSampling(context.Context, *connectors.SamplingRequest) (*mcp.CreateMessageWithToolsResult, error) {
	return nil, connectors.ErrUserRejected
}

// withHost runs body on a connector to a server that asks for no
// authorization, with a front end that answers elicitations as a user
// who confirms every pre-filled field would: accept, the requested
// schema's defaults filled in (prompter.AcceptDefaults).
func (r *runner) withHost(ctx context.Context, body func(context.Context, *connectors.Connector) error) error {
	c, err := connectors.New(connectors.Options{
		Config:     connectors.Config{Name: "conformance", URL: r.serverURL, Transport: connectors.TransportStreamableHTTP},
		Logger:     r.log,
		ClientInfo: &mcp.Implementation{Name: "mediator-conformance-client", Version: "dev"},
		Host:       connectors.Host{Elicit: prompter.AcceptDefaults},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		return err
	}
	return body(ctx, c)
}

// direct is for the scenarios that need session methods (resources,
// prompts) that connectors.Connector does not expose. None of their servers asks for authorization.
func (r *runner) direct(ctx context.Context, opts *mcp.ClientOptions, body func(context.Context, *mcp.ClientSession) error) error {
	client := mcp.NewClient(&mcp.Implementation{Name: "mediator-conformance-client", Version: "dev"}, opts)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: r.serverURL}, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	return body(ctx, cs)
}
