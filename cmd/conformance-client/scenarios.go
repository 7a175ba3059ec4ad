package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

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
	log             *slog.Logger
	serverURL       string
	scenario        string
	ctx             scenarioContext
	protocolVersion string
}

func (r *runner) run(ctx context.Context) error {
	switch r.scenario {
	case "elicitation-sep1034-client-defaults":
		return r.direct(ctx, &mcp.ClientOptions{
			ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				// Accept with nothing filled in: the SDK applies the schema's defaults.
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{}}, nil
			},
		}, func(ctx context.Context, cs *mcp.ClientSession) error {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_client_elicitation_defaults", Arguments: map[string]any{}})
			return err
		})
	case "sep-2322-client-request-state":
		return r.direct(ctx, &mcp.ClientOptions{
			Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{}},
			ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirmed": true}}, nil
			},
		}, func(ctx context.Context, cs *mcp.ClientSession) error {
			for _, name := range []string{"test_mrtr_echo_state", "test_mrtr_no_state", "test_mrtr_unrelated", "test_mrtr_no_result_type"} {
				if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{}}); err != nil {
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

// oauthHandler builds the production OAuth handler the scenario calls for.
func (r *runner) oauthHandler() (*oauth.Handler, error) {
	policy, err := oauth.PolicyFor(r.serverURL, true)
	if err != nil {
		return nil, err
	}
	cfg := oauth.Config{
		ServerName:             "conformance",
		ServerURL:              r.serverURL,
		AllowInsecureLocalhost: true,
		Logger:                 r.log,
		Store:                  oauth.NewMemoryStore(),
		DPoP:                   oauth.DPoPAuto,
	}
	c := r.ctx
	switch r.scenario {
	case "auth/client-credentials-jwt":
		key, err := oauth.ParseSigningKey(credentials.NewSecret(c.PrivateKeyPEM), c.SigningAlgorithm)
		if err != nil {
			return nil, err
		}
		cfg.Grant = oauth.GrantClientCredentials
		cfg.Client = &oauth.ClientConfig{ClientID: c.ClientID, Key: key}
	case "auth/client-credentials-basic":
		cfg.Grant = oauth.GrantClientCredentials
		cfg.Client = &oauth.ClientConfig{ClientID: c.ClientID, ClientSecret: credentials.NewSecret(c.ClientSecret)}
	case "auth/wif-jwt-bearer":
		cfg.Grant = oauth.GrantJWTBearer
		cfg.Client = &oauth.ClientConfig{ClientID: c.ClientID}
		jwt := credentials.NewSecret(c.ValidJWT)
		cfg.Assertion = func(context.Context) (credentials.Secret, error) { return jwt, nil }
	case "auth/enterprise-managed-authorization":
		cfg.Grant = oauth.GrantEnterprise
		cfg.Client = &oauth.ClientConfig{ClientID: c.ClientID, ClientSecret: credentials.NewSecret(c.ClientSecret)}
		idt := credentials.NewSecret(c.IDPIDToken)
		cfg.Enterprise = &oauth.EnterpriseConfig{
			TokenEndpoint: c.IDPTokenEndpoint,
			ClientID:      c.IDPClientID,
			IDToken:       func(context.Context) (credentials.Secret, error) { return idt, nil },
		}
	default:
		cfg.Grant = oauth.GrantAuthorizationCode
		cfg.Fetcher = oauth.NewHeadlessFetcher(policy)
		cfg.RedirectURL = redirectURL
		cfg.ClientMetadataURL = clientMetadataURL
		cfg.RequestOfflineAccess = true
		if c.ClientID != "" {
			cfg.Client = &oauth.ClientConfig{ClientID: c.ClientID, ClientSecret: credentials.NewSecret(c.ClientSecret)}
		}
	}
	return oauth.New(cfg)
}

// connector is the production path: a connectors.Connector whose auth seam
// carries the OAuth handler.
func (r *runner) connector() (*connectors.Connector, error) {
	h, err := r.oauthHandler()
	if err != nil {
		return nil, err
	}
	return connectors.New(connectors.Options{
		Config: connectors.Config{
			Name:      "conformance",
			URL:       r.serverURL,
			Transport: connectors.TransportStreamableHTTP,
		},
		Logger:        r.log,
		ClientInfo:    &mcp.Implementation{Name: "mediator-conformance-client", Version: "dev"},
		Authenticator: connectors.NewOAuthAuthenticator(h),
	})
}

// direct is for the scenarios that need client handlers (elicitation) or
// session methods (resources, prompts) that connectors.Connector does not
// expose yet. It still authorizes through the same oauth.Handler.
func (r *runner) direct(ctx context.Context, opts *mcp.ClientOptions, body func(context.Context, *mcp.ClientSession) error) error {
	h, err := r.oauthHandler()
	if err != nil {
		return err
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mediator-conformance-client", Version: "dev"}, opts)
	t := &mcp.StreamableClientTransport{
		Endpoint:     r.serverURL,
		HTTPClient:   &http.Client{Transport: h.Transport(http.DefaultTransport)},
		OAuthHandler: h,
	}
	cs, err := client.Connect(ctx, t, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	return body(ctx, cs)
}
