package chat

import (
	"context"
	"crypto/rand"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/commands/demo"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/credentials"
)

// openDemo starts the demo's world (two example servers on loopback, each
// requiring its own random key, kept in a throwaway keyring) and points
// f at a config for it, so that the chat runs on it as on a user's own
// servers: nothing to set up, nothing left behind. The config has no
// llm: block, so the chat runs in direct mode. It returns the user's own
// config file, which the advice on adding a model names; close stops the
// servers and deletes the world.
func openDemo(ctx context.Context, f *cmdutil.Factory) (userConfig string, close func() error, err error) {
	userConfig, _, _ = f.ConfigPath()
	w, err := demo.StartWorld(ctx, credentials.NewSecret(rand.Text()), credentials.NewSecret(rand.Text()))
	if err != nil {
		return "", nil, cmdutil.Errorf(cmdutil.ExitConnect, "starting the demo servers: %v", err)
	}
	path, err := w.WriteConfig("")
	if err != nil {
		_ = w.Close()
		return "", nil, err
	}
	env := f.LookupEnv
	f.ConfigFlag = path
	f.LookupEnv = func(key string) (string, bool) {
		switch key {
		case credentials.PassphraseEnv:
			return w.Passphrase, true
		case config.EnvConfig:
			return "", false
		}
		return env(key)
	}
	return userConfig, w.Close, nil
}
