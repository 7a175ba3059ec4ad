package flowrun

import (
	"fmt"
	"time"

	"github.com/mediatorhq/mediator/cmd/internal/config"
	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/workflows/flow"
)

// TimeoutWarnings lists the call steps whose timeout is longer than their
// server's: the connector ends every call at the server's timeout
// (servers.<name>.timeout, default connectors.DefaultTimeout), so a longer
// step timeout cannot take effect and the step would fail sooner than its
// author expects. These are warnings, not problems: the flow still runs,
// only capped.
func TimeoutWarnings(cfg *config.Config, f *flow.Flow) []string {
	if cfg == nil || f == nil {
		return nil
	}
	limits := map[string]time.Duration{}
	for _, s := range cfg.Servers {
		d := s.Timeout
		if d <= 0 {
			d = connectors.DefaultTimeout
		}
		limits[s.Name] = d
	}
	var out []string
	for _, s := range f.AllSteps() {
		if s.Call == nil {
			continue
		}
		limit, ok := limits[s.Call.Server]
		d := f.EffectiveTimeout(s)
		if !ok || d <= limit {
			continue
		}
		pos, from := s.FieldPos("timeout"), "its timeout"
		if s.Timeout == 0 {
			pos, from = s.Call.Pos, "defaults.timeout"
		}
		if pos.File == "" {
			pos.File = f.Source
		}
		out = append(out, fmt.Sprintf("warning: %s: %s: %s (%s) is longer than server %q's timeout (%s), which ends every call to it first; raise servers.%s.timeout in the config to at least %s, or shorten the step's",
			pos, s.Field(), from, d, s.Call.Server, limit, s.Call.Server, d))
	}
	return out
}
