package config_test

import (
	"fmt"

	"github.com/mediatorhq/mediator/cmd/internal/config"
)

func ExampleParse() {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"HOME": "/home/ada", "WEATHER_HOST": "weather.example.com"}[k]
		return v, ok
	}
	cfg, err := config.Parse("config.yaml", []byte(`
servers:
  weather:
    url: https://${WEATHER_HOST}/mcp
    auth: {type: api-key, header: X-API-Key, secret: api-key}
`), env)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, _ := cfg.Server("weather")
	fmt.Println(s.URL, s.Auth.Secret)
	fmt.Println(cfg.Audit.Path)

	_, err = config.Parse("config.yaml", []byte(`
servers:
  weather:
    url: https://weather.example.com/mcp
    auth: {type: baerer, value: abc123}
`), env)
	fmt.Println(err)
	// Output:
	// https://weather.example.com/mcp api-key
	// /home/ada/.local/state/mediator/audit.jsonl
	// config.yaml:5:18: servers.weather.auth.type: unknown auth type "baerer" (did you mean "bearer"?); valid: none, api-key, bearer, oauth, client-credentials, jwt-bearer, enterprise, mtls
	// config.yaml:5:26: servers.weather.auth.value: secrets are never written in the config: store the value with "mediator secret set weather NAME" and refer to it as auth.secret: NAME
}
