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

	// A problem in one server's entry is that server's: the others load.
	cfg, err = config.Parse("config.yaml", []byte(`
servers:
  weather:
    url: https://weather.example.com/mcp
    auth: {type: baerer, value: abc123}
  calendar:
    url: https://calendar.example.com/mcp
`), env)
	fmt.Println(err, len(cfg.ServerConfigs()))
	s, _ = cfg.Server("weather")
	fmt.Println(s.Err())

	// A problem of the file as a whole leaves nothing to use.
	_, err = config.Parse("config.yaml", []byte(`
credentials: {backend: keyring}
servers:
  calendar:
    url: https://calendar.example.com/mcp
`), env)
	fmt.Println(err)
	// Output:
	// https://weather.example.com/mcp api-key
	// /home/ada/.local/state/mediator/audit.jsonl
	// <nil> 1
	// server "weather" cannot be used until its entry in the config is fixed:
	// config.yaml:5:18: servers.weather.auth.type: unknown auth type "baerer" (did you mean "bearer"?); valid: none, api-key, bearer, oauth, client-credentials, jwt-bearer, enterprise, mtls
	// config.yaml:5:26: servers.weather.auth.value: secrets are never written in the config: store the value with "mediator secret set weather NAME" and refer to it as auth.secret: NAME
	// config.yaml:2:24: credentials.backend: unknown backend "keyring"; valid: auto, file, keychain, secret-service, kwallet, pass, wincred, keyctl
}
