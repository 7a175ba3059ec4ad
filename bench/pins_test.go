//go:build unix

package bench

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/connectors"
	"github.com/mediatorhq/mediator/internal/hostile"
	"github.com/mediatorhq/mediator/orchestrator"
)

var pinsBeside = flag.Bool("pins", false, "measure a call beside a server of 50,000 pinned tools (slow: pins them first)")

// TestPinsBesideBigServer measures what a server with 50,000 pinned tools
// (a cap raised to let it in) costs a call on another server: the first
// call of a fresh orchestrator over that other server alone, as each
// `mediator call` makes it, with and without the big server's pins in the
// same pin directory. Alternating batches, as TestRatio. It prints the
// pin file sizes and the ratio and asserts nothing about time.
func TestPinsBesideBigServer(t *testing.T) {
	if !*pinsBeside {
		t.Skip("pass -pins to measure")
	}
	ctx := context.Background()
	notes := orchestrator.ServerConfig{Config: connectors.Config{Name: "notes", Timeout: time.Minute}, NewTransport: hostile.NewRugPull().Dial()}
	big := orchestrator.ServerConfig{Config: connectors.Config{Name: "big", Timeout: 10 * time.Minute}, NewTransport: hostile.NewManyTools(50_000).Dial(), MaxTools: 60_000}
	pinned := func(servers ...orchestrator.ServerConfig) string {
		dir := filepath.Join(t.TempDir(), "pins")
		o, err := orchestrator.New(orchestrator.Options{PinDir: dir, Servers: servers})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		for _, s := range servers {
			if _, err := o.Tools(ctx, s.Name); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	alone, beside := pinned(notes), pinned(notes, big)
	for _, f := range []string{filepath.Join(alone, "notes.json"), filepath.Join(beside, "notes.json"), filepath.Join(beside, "big.json")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-60s %12d bytes", f, fi.Size())
	}
	callIn := func(dir string) caller {
		return func(ctx context.Context) error {
			o, err := orchestrator.New(orchestrator.Options{PinDir: dir, Servers: []orchestrator.ServerConfig{notes}})
			if err != nil {
				return err
			}
			defer o.Close()
			_, err = o.Call(ctx, "notes", hostile.RugPullSteady, map[string]any{})
			return err
		}
	}
	aw, ac, bw, bc := alternate(t, callIn(alone), callIn(beside), nil, *ratioRounds/4, *ratioBatch/4)
	t.Logf("a fresh session's call on notes: alone %.1f µs, beside big %.1f µs: ratio %.3f wall, %.3f cpu",
		median(aw), median(bw), pairedRatio(bw, aw), pairedRatio(bc, ac))
}
