package connectors_test

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/connectors"
)

// A connector to an in-process go-sdk server: Options.NewTransport stands in
// for a URL or command, and everything else works as with a remote server.
func ExampleConnector() {
	server := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "1"}, nil)
	type in struct {
		Name string `json:"name"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "greet"}, func(ctx context.Context, req *mcp.CallToolRequest, args in) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello, " + args.Name}}}, nil, nil
	})

	ctx := context.Background()
	c, err := connectors.New(connectors.Options{
		Config: connectors.Config{Name: "greeter"},
		NewTransport: func(ctx context.Context) (mcp.Transport, error) {
			serverSide, clientSide := mcp.NewInMemoryTransports()
			if _, err := server.Connect(ctx, serverSide, nil); err != nil {
				return nil, err
			}
			return clientSide, nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Name(), c.Status().State)
	res, err := c.CallTool(ctx, "greet", map[string]any{"name": "mediator"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	// Output:
	// greeter ready
	// hello, mediator
}

// Config problems are reported before anything connects, naming the field
// and the valid choices.
func ExampleConfig_Validate() {
	err := connectors.Config{Name: "weather", URL: "https://weather.example.com/mcp", Auth: connectors.AuthConfig{Type: "basic"}}.Validate()
	fmt.Println(err)
	// Output:
	// server "weather": config: auth.type: unknown auth type "basic"; valid: none, api-key, bearer, oauth, client-credentials, jwt-bearer, enterprise, mtls
}

// AuthProblems lists every problem of the auth and tls settings at once,
// each with its field, so a config loader can place them in the file.
func ExampleConfig_AuthProblems() {
	c := connectors.Config{
		Name: "reports",
		URL:  "https://reports.example.com/mcp",
		Auth: connectors.AuthConfig{Type: connectors.AuthClientCredentials, ClientSecret: "bot-secret", AuthMethod: "jwt"},
		TLS:  connectors.TLSConfig{Cert: "client.pem", MinVersion: "1.1"},
	}
	for _, p := range c.AuthProblems() {
		fmt.Println(p)
	}
	// Output:
	// auth.client_id: auth type client-credentials needs client_id: the client registered for mediator at the authorization server
	// auth.auth_method: unknown method "jwt"; valid: basic, post, private_key_jwt
	// tls.cert: the client certificate needs its private key: key_secret (a keyring item of this server) or key_file (a PEM file)
	// tls.min_version: unknown TLS version "1.1"; valid: 1.2, 1.3 (nothing below 1.2 is allowed)
}
