package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/credentials"
	"github.com/mediatorhq/mediator/examples/calendar"
	"github.com/mediatorhq/mediator/examples/guard"
	"github.com/mediatorhq/mediator/examples/weather"
	"github.com/mediatorhq/mediator/orchestrator"
)

// World is where the demo happens: the two example servers on loopback,
// each requiring its own key and logging every request, and both keys in
// a throwaway file keyring under Dir, stored as a user would with
// `mediator secret set`. `mediator demo` makes its hops in it; `mediator
// chat --demo` opens a chat on it. Close stops it and deletes Dir.
type World struct {
	Dir                     string
	Weather, Calendar       *guard.Server
	WeatherLog, CalendarLog *guard.RequestLog
	Store                   *credentials.Store
	// Passphrase opens the keyring; it is random and lives as long as
	// the World.
	Passphrase string
	// Servers are the two servers as the orchestrator takes them.
	Servers []orchestrator.ServerConfig
}

// StartWorld starts the servers, weather requiring weatherKey and
// calendar calendarKey, and stores the keys. On error nothing is left
// running.
func StartWorld(ctx context.Context, weatherKey, calendarKey credentials.Secret) (w *World, err error) {
	w = &World{WeatherLog: guard.NewRequestLog(nil), CalendarLog: guard.NewRequestLog(nil), Passphrase: randomHex(16)}
	if w.Dir, err = os.MkdirTemp("", "mediator-demo-"); err != nil {
		return nil, fmt.Errorf("creating a temporary directory: %w", err)
	}
	defer func() {
		if err != nil {
			_ = w.Close()
		}
	}()
	if w.Weather, err = guard.Start("127.0.0.1:0", "/mcp", weather.NewHandler(weatherKey.Reveal(), w.WeatherLog)); err != nil {
		return nil, fmt.Errorf("starting the weather server: %w", err)
	}
	if w.Calendar, err = guard.Start("127.0.0.1:0", "/mcp", calendar.NewHandler(calendarKey.Reveal(), w.CalendarLog)); err != nil {
		return nil, fmt.Errorf("starting the calendar server: %w", err)
	}
	w.Store, err = credentials.Open(ctx, credentials.Options{
		Backend:    credentials.BackendFile,
		FileDir:    w.keyringDir(),
		Passphrase: func(string) (string, error) { return w.Passphrase, nil },
	})
	if err != nil {
		return nil, fmt.Errorf("opening the throwaway keyring: %w", err)
	}
	if err := w.Store.Set(weatherServer, weatherSecret, weatherKey); err != nil {
		return nil, fmt.Errorf("storing the weather key: %w", err)
	}
	if err := w.Store.Set(calendarServer, calendarSecret, calendarKey); err != nil {
		return nil, fmt.Errorf("storing the calendar token: %w", err)
	}
	w.Servers = []orchestrator.ServerConfig{
		{Config: connectors.Config{Name: weatherServer, URL: w.Weather.URL, Timeout: 10 * time.Second,
			Auth: connectors.AuthConfig{Type: connectors.AuthAPIKey, Header: weather.KeyHeader, Secret: weatherSecret}}},
		{Config: connectors.Config{Name: calendarServer, URL: w.Calendar.URL, Timeout: 10 * time.Second,
			Auth: connectors.AuthConfig{Type: connectors.AuthBearer, Secret: calendarSecret}}},
	}
	return w, nil
}

func (w *World) keyringDir() string { return filepath.Join(w.Dir, "keyring") }

// WriteConfig writes a config file for the World, as a user would write
// it (the keyring, the two servers and their auth, state under Dir),
// with extra appended as more top-level YAML, and returns its path.
func (w *World) WriteConfig(extra string) (string, error) {
	cfg := fmt.Sprintf(`credentials:
  backend: file
  file_dir: %q
state_dir: %q
servers:
  %s:
    url: %q
    auth: {type: api-key, header: %s, secret: %s}
  %s:
    url: %q
    auth: {type: bearer, secret: %s}
%s`, w.keyringDir(), filepath.Join(w.Dir, "state"),
		weatherServer, w.Weather.URL, weather.KeyHeader, weatherSecret,
		calendarServer, w.Calendar.URL, calendarSecret, extra)
	path := filepath.Join(w.Dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", fmt.Errorf("writing the demo config: %w", err)
	}
	return path, nil
}

// Close stops the servers and deletes Dir.
func (w *World) Close() error {
	var errs []error
	for _, s := range []*guard.Server{w.Weather, w.Calendar} {
		if s != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, s.Shutdown(ctx))
			cancel()
		}
	}
	if w.Dir != "" {
		if err := os.RemoveAll(w.Dir); err != nil {
			errs = append(errs, fmt.Errorf("removing the demo directory %s: %w", w.Dir, err))
		}
	}
	return errors.Join(errs...)
}
