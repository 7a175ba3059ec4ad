package flowrun

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/cmdutil"
	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// Engines are the valid engine: and --engine values.
var Engines = []string{config.EngineLocal, config.EngineTemporal}

// CheckEngineFlag checks an --engine value ("" leaves the config's).
func CheckEngineFlag(v string) error {
	if v != "" && !slices.Contains(Engines, v) {
		return cmdutil.UsageErrorf("--engine %q: valid engines are %s", v, strings.Join(Engines, " and "))
	}
	return nil
}

// EngineOf is the engine a command runs flows on: flag (--engine) when
// set, else the config's engine:, else local.
func EngineOf(flag string, cfg *config.Config) string {
	switch {
	case flag != "":
		return flag
	case cfg != nil && cfg.Engine != "":
		return cfg.Engine
	}
	return config.EngineLocal
}

// OpenRemote opens the engine of engine: temporal (Env.Remote). In
// mediator, which does not link Temporal, it hands the command line to
// mediator-temporal (Env.ExecTemporal) and returns only if that fails.
// flag is the --engine value, to say which asked for Temporal.
func OpenRemote(ctx context.Context, env Env, cfg *config.Config, flag string) (cmdutil.RemoteRuns, error) {
	if env.Remote == nil || !env.Remote.Linked() {
		why := "--engine temporal"
		if flag == "" {
			why = "engine: temporal in " + cfg.Path
		}
		if env.ExecTemporal == nil {
			return nil, cmdutil.UsageErrorf("%s: this binary has no Temporal client", why)
		}
		return nil, env.ExecTemporal(why)
	}
	return env.Remote.Open(ctx, cfg)
}

// Remote opens the remote engine for a command (cmdutil.Temporal.Runs).
type Remote interface {
	// Linked is false in mediator, whose Factory has no Temporal hooks.
	Linked() bool
	Open(ctx context.Context, cfg *config.Config) (cmdutil.RemoteRuns, error)
}

// factoryRemote is Remote over the Factory's Temporal hooks, read when
// used (the binary sets them after the Factory is made).
type factoryRemote struct{ f *cmdutil.Factory }

func (r factoryRemote) Linked() bool { return r.f.Temporal != nil && r.f.Temporal.Runs != nil }

func (r factoryRemote) Open(ctx context.Context, cfg *config.Config) (cmdutil.RemoteRuns, error) {
	return r.f.Temporal.Runs(ctx, r.f, cfg)
}

// ValidateOptions are the options a flow about to run is validated
// with, by LoadFlow and by a remote engine reading the files it submits:
// the policy's flows besides the file's own, and the config's servers.
func ValidateOptions(env Env, cfg *config.Config) flow.ValidateOptions {
	return flow.ValidateOptions{
		PolicyFlows: PolicyOf(env, cfg).Flows,
		Server:      ServerCheck(cfg),
	}
}

// ServerSettings are what a run on a remote engine takes from the config
// beside its policy, since its workers may have other configs: the
// configured servers whose tool annotations trust believes, and the
// servers' call timeouts.
func ServerSettings(cfg *config.Config, trust func(string) bool) (trusted []string, timeouts map[string]time.Duration) {
	for _, s := range cfg.Servers {
		if trust(s.Name) {
			trusted = append(trusted, s.Name)
		}
		if s.Timeout > 0 {
			if timeouts == nil {
				timeouts = map[string]time.Duration{}
			}
			timeouts[s.Name] = s.Timeout
		}
	}
	return trusted, timeouts
}
