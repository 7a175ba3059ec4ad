package weather_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/examples/weather"
)

// apiKey presents the weather key on every request, as mediator's api-key
// connector does.
type apiKey struct{ key string }

func (k apiKey) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(weather.KeyHeader, k.key)
	return http.DefaultTransport.RoundTrip(r)
}

// Serve the weather server on loopback and ask it for a forecast. The
// server's own log then shows the key it was shown.
func ExampleNewHandler() {
	log := guard.NewRequestLog(nil)
	srv := httptest.NewServer(weather.NewHandler("key-A", log))
	defer srv.Close()

	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "example", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: srv.URL, HTTPClient: &http.Client{Transport: apiKey{"key-A"}},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cs.Close()

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: weather.ToolGetForecast, Arguments: map[string]any{"location": "Oslo"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fc := res.StructuredContent.(map[string]any)
	fmt.Println(fc["location"], "-", fc["summary"])
	fmt.Println("every request showed key-A:", log.Saw("key-A") == log.Len())
	// Output:
	// Oslo - Cloudy, rain possible (65% chance of rain), high of 16.1 °C
	// every request showed key-A: true
}
