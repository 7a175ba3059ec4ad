// Command conformance-client is mediator's client for the official MCP
// conformance suite (@modelcontextprotocol/conformance). It follows the
// suite's contract: the server URL is the last argument, the scenario is in
// MCP_CONFORMANCE_SCENARIO and scenario data (credentials, keys) in
// MCP_CONFORMANCE_CONTEXT.
//
// It runs the production code: each scenario becomes a connectors.Config, as
// a server in mediator's config file would, with the scenario's credentials
// as its keyring items, and connectors.New builds the connection and every
// authorization flow from it. So the suite scores the mapping from config
// to OAuth as well as the flows. The only conformance-specific pieces are
// the headless user agent as the login (the suite's mock authorization
// server redirects at once), an in-memory keyring and token store, and
// allow_insecure_localhost (the mocks listen on http://localhost).
//
// Usage (the suite appends the URL):
//
//	MCP_CONFORMANCE_SCENARIO=auth/metadata-default conformance-client http://localhost:1234/mcp
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: conformance-client SERVER_URL (with MCP_CONFORMANCE_SCENARIO set)")
		return 2
	}
	serverURL := os.Args[len(os.Args)-1]
	scenario := os.Getenv("MCP_CONFORMANCE_SCENARIO")
	if scenario == "" {
		fmt.Fprintln(os.Stderr, "MCP_CONFORMANCE_SCENARIO is not set")
		return 2
	}
	sc, err := parseContext(os.Getenv("MCP_CONFORMANCE_CONTEXT"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "MCP_CONFORMANCE_CONTEXT: %v\n", err)
		return 2
	}
	// The suite kills the client after 30 s; finish (and report) before that.
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	r := &runner{log: log, serverURL: serverURL, scenario: scenario, ctx: sc}
	if err := r.run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "scenario %s: %v\n", scenario, err)
		return 1
	}
	return 0
}

// scenarioContext is MCP_CONFORMANCE_CONTEXT. Unknown keys are kept in raw.
type scenarioContext struct {
	ClientID         string     `json:"client_id"`
	ClientSecret     string     `json:"client_secret"`
	PrivateKeyPEM    string     `json:"private_key_pem"`
	SigningAlgorithm string     `json:"signing_algorithm"`
	IDPClientID      string     `json:"idp_client_id"`
	IDPIDToken       string     `json:"idp_id_token"`
	IDPIssuer        string     `json:"idp_issuer"`
	IDPTokenEndpoint string     `json:"idp_token_endpoint"`
	ValidJWT         string     `json:"valid_jwt"`
	ToolCalls        []toolCall `json:"toolCalls"`
}

type toolCall struct {
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}

func parseContext(s string) (scenarioContext, error) {
	var c scenarioContext
	if s == "" {
		return c, nil
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, errors.New("not a JSON object")
	}
	return c, nil
}
