package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediatorhq/mediator/serve"
)

// reloaded waits for the daemon's next reload and returns its outcome.
func (r *running) nextReload(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.reloaded:
		return err
	case err := <-r.done:
		t.Fatalf("the daemon ended: %v\n%s", err, r.stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("no reload came:\n%s", r.stderr.String())
	}
	return nil
}

// saveByRename writes body as an editor saves: a new file renamed over
// path.
func saveByRename(t *testing.T, path, body string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swp")
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// workflowNames are the workflows GET /v1/workflows lists.
func workflowNames(t *testing.T, base, token string) []string {
	t.Helper()
	var out struct{ Workflows []struct{ Name string } }
	if code := api(t, "GET", base+"/v1/workflows", token, "", &out); code != 200 {
		t.Fatalf("GET /v1/workflows: %d", code)
	}
	var names []string
	for _, w := range out.Workflows {
		names = append(names, w.Name)
	}
	return names
}

// A change to the config file is taken without a signal: a rename-save
// that swaps the API token and the schedules, a broken config (refused,
// each problem logged, the old one kept), a fixed one; and adding,
// editing and removing a workflow file reloads the catalog.
func TestDaemonWatchesConfig(t *testing.T) {
	h := newHome(t)
	h.watch = true
	const other = "mdt_test-token-after-the-reload"
	tokens := func(tok string) string {
		return fmt.Sprintf("  api_tokens: [{name: ci, token_sha256: %s, workflows: ['*']}]\n", serve.HashToken(tok))
	}
	h.write(tokens(apiToken) + "  schedules:\n    - {workflow: say, cron: \"0 6 * * *\"}\n")
	h.storeKey()
	r := h.start()
	base := r.baseURL(t)

	saveByRename(t, h.cfg, h.body("", tokens(other)+"  schedules:\n    - {workflow: say, cron: \"0 6 * * *\"}\n    - {workflow: hold, cron: \"@daily\"}\n"))
	if err := r.nextReload(t); err != nil {
		t.Fatalf("the saved config was refused: %v\n%s", err, r.stderr.String())
	}
	if code := api(t, "GET", base+"/v1/workflows", apiToken, "", nil); code != 401 {
		t.Errorf("the replaced token still works: %d", code)
	}
	if got := workflowNames(t, base, other); strings.Join(got, ",") != "hold,say" {
		t.Errorf("workflows with the new token: %v", got)
	}
	if !strings.Contains(r.stderr.String(), `"msg":"config reloaded"`) || !strings.Contains(r.stderr.String(), `"schedules":2`) {
		t.Errorf("reload log:\n%s", r.stderr.String())
	}

	// Broken: refused, every problem logged, the old config kept.
	if err := os.WriteFile(h.cfg, []byte(h.body("", tokens(apiToken)+"  schedules:\n    - {workflow: say, cron: \"0 6 * *\"}\n  max_concurrent_runs: 0\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.nextReload(t); err == nil {
		t.Fatal("a broken config was taken")
	}
	logs := r.stderr.String()
	for _, want := range []string{`daemon.schedules[0].cron: \"0 6 * *\" is not a cron expression`, `daemon.max_concurrent_runs: must be at least 1`} {
		if !strings.Contains(logs, want) || !strings.Contains(logs, "config reload refused; the old config stays") {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if code := api(t, "GET", base+"/v1/workflows", other, "", nil); code != 200 {
		t.Errorf("the old config's token after a refused reload: %d", code)
	}

	saveByRename(t, h.cfg, h.body("", tokens(apiToken)))
	if err := r.nextReload(t); err != nil {
		t.Fatalf("the fixed config was refused: %v\n%s", err, r.stderr.String())
	}

	// Removed, then written again with a change: nothing while it is
	// gone, the new one once it is back.
	if err := os.Remove(h.cfg); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(r.stderr.String(), "the config file is gone") {
		select {
		case err := <-r.reloaded:
			t.Fatalf("a reload while the config file is gone: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := os.WriteFile(h.cfg, []byte(h.body("", tokens(other))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.nextReload(t); err != nil {
		t.Fatalf("the re-created config was refused: %v\n%s", err, r.stderr.String())
	}
	if code := api(t, "GET", base+"/v1/workflows", other, "", nil); code != 200 {
		t.Errorf("the re-created config's token: %d", code)
	}
	saveByRename(t, h.cfg, h.body("", tokens(apiToken)))
	if err := r.nextReload(t); err != nil {
		t.Fatal(err)
	}

	// Workflow files: added, edited, removed.
	rain := filepath.Join(h.dir, "flows", "rain.flow.yaml")
	if err := os.WriteFile(rain, []byte(strings.Replace(sayFlow, "name: say", "name: rain", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.nextReload(t); err != nil {
		t.Fatal(err)
	}
	if got := workflowNames(t, base, apiToken); strings.Join(got, ",") != "hold,rain,say" {
		t.Errorf("after adding rain: %v", got)
	}
	saveByRename(t, rain, strings.Replace(sayFlow, "name: say", "name: rain\ndescription: it rains", 1))
	if err := r.nextReload(t); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Workflows []struct{ Name, Description string }
	}
	api(t, "GET", base+"/v1/workflows", apiToken, "", &out)
	if len(out.Workflows) != 3 || out.Workflows[1].Description != "it rains" {
		t.Errorf("after editing rain: %+v", out.Workflows)
	}
	if err := os.Remove(rain); err != nil {
		t.Fatal(err)
	}
	if err := r.nextReload(t); err != nil {
		t.Fatal(err)
	}
	if got := workflowNames(t, base, apiToken); strings.Join(got, ",") != "hold,say" {
		t.Errorf("after removing rain: %v", got)
	}
	r.stop(t)
}

// A config reached through symlinks as a Kubernetes ConfigMap mounts it
// (config.yaml -> ..data/config.yaml, ..data -> a timestamped directory)
// is reloaded when the update swaps ..data to a new directory.
func TestDaemonWatchesConfigMap(t *testing.T) {
	h := newHome(t)
	h.watch = true
	cm := filepath.Join(h.dir, "cm")
	version := func(name, daemonBlock string) {
		t.Helper()
		dir := filepath.Join(cm, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(h.body("", daemonBlock)), 0o600); err != nil {
			t.Fatal(err)
		}
		// The kubelet's atomic swap: a new link renamed over ..data.
		if err := os.Symlink(name, filepath.Join(cm, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(cm, "..data_tmp"), filepath.Join(cm, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	h.write("") // for storeKey; the daemon reads the ConfigMap
	h.storeKey()
	version("..2026_12_01", fmt.Sprintf("  api_tokens: [{name: ci, token_sha256: %s, workflows: ['*']}]\n", serve.HashToken(apiToken)))
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), filepath.Join(cm, "config.yaml")); err != nil {
		t.Fatal(err)
	}
	h.vars["MEDIATOR_CONFIG"] = filepath.Join(cm, "config.yaml")
	r := h.start()
	base := r.baseURL(t)

	const other = "mdt_test-token-from-the-new-configmap"
	version("..2026_12_02", fmt.Sprintf("  api_tokens: [{name: ci, token_sha256: %s, workflows: ['say']}]\n", serve.HashToken(other)))
	if err := r.nextReload(t); err != nil {
		t.Fatalf("the new ConfigMap was refused: %v\n%s", err, r.stderr.String())
	}
	if got := workflowNames(t, base, other); strings.Join(got, ",") != "say" {
		t.Errorf("workflows with the new ConfigMap's token: %v", got)
	}
	if code := api(t, "GET", base+"/v1/workflows", apiToken, "", nil); code != 401 {
		t.Errorf("the old ConfigMap's token: %d", code)
	}
	r.stop(t)
}

// A daemon that cannot make a watcher says so and keeps working: SIGHUP
// still reloads.
func TestDaemonWithoutWatcher(t *testing.T) {
	h := newHome(t)
	h.watch = true
	h.newWatcher = func(*slog.Logger) (*configWatcher, error) { return nil, errors.New("too many open files") }
	h.write("")
	h.storeKey()
	r := h.start()
	r.baseURL(t)
	if !strings.Contains(r.stderr.String(), `"msg":"config and workflow file changes are not watched; reload with SIGHUP","error":"too many open files"`) {
		t.Errorf("no warning:\n%s", r.stderr.String())
	}
	h.write("  schedules:\n    - {workflow: say, cron: \"@daily\"}\n")
	r.reload <- nil
	if err := r.nextReload(t); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
}
