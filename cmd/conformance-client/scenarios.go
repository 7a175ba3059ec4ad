package main

//lint:file-ignore SA1019 sampling and roots are deprecated from protocol 2026-07-28 on, but mediator offers them to servers that use them (2025-11-25 and the deprecation window)

import (
	"context"
	"errors"
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
	case r.scenario == "http-standard-headers":
		return r.everyRequest(ctx, c)
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
	case r.scenario == "sep-2640-client-no-prefetch":
		// Listing is the test: no skill file may be read before a skill is loaded.
		_, err := c.ListSkills(ctx)
		return err
	case strings.HasPrefix(r.scenario, "sep-2640-client-verify-"):
		// Each skill is loaded as a host would: the served SKILL.md is
		// tampered with, so loading must fail and read nothing more.
		skills, err := c.ListSkills(ctx)
		if err != nil {
			return err
		}
		var errs []error
		for _, s := range skills {
			if _, err := c.LoadSkill(ctx, s); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
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

// everyRequest sends each kind of request the scenario checks the headers
// of (list, call, read, get) through the connector: every listed tool,
// resource (their URIs have percent-encoding and a query string) and
// prompt. A refused request is logged: the headers were sent all the same.
func (r *runner) everyRequest(ctx context.Context, c *connectors.Connector) error {
	tools, err := c.ListTools(ctx)
	if err != nil {
		return err
	}
	for _, t := range tools {
		if _, err := c.CallTool(ctx, t.Name, nil, nil); err != nil {
			r.log.Info("tool call refused", "tool", t.Name, "error", err)
		}
	}
	resources, _, err := c.ListResources(ctx, 0)
	if err != nil {
		return err
	}
	for _, res := range resources {
		if _, err := c.ReadResource(ctx, res.URI); err != nil {
			r.log.Info("read refused", "uri", res.URI, "error", err)
		}
	}
	prompts, _, err := c.ListPrompts(ctx, 0)
	if err != nil {
		return err
	}
	for _, p := range prompts {
		if _, err := c.GetPrompt(ctx, p.Name, map[string]string{}); err != nil {
			r.log.Info("prompt refused", "prompt", p.Name, "error", err)
		}
	}
	return nil
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
