package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchSettle is how long the watched directories must stay quiet after
// a change before it is taken: an editor's save (write a temporary file,
// rename it over the config) or a ConfigMap update is one burst, one
// reload.
const watchSettle = 150 * time.Millisecond

// configWatcher asks for a reload when what the config file or the
// workflow files of daemon.workflows_dir hold changes. It watches
// directories, not files: an editor saves by renaming a new file over
// the old one, a file may be removed and created again, and a symlinked
// config (a Kubernetes ConfigMap) changes by swapping a link in its
// directory. Events are only hints: once they settle, the files'
// contents are compared with what the last reload read (mark), and only
// a difference asks for a reload. A config file that is gone asks for
// nothing until it is back.
type configWatcher struct {
	w      *fsnotify.Watcher
	logger *slog.Logger

	mu       sync.Mutex
	cfgPath  string // absolute
	flowsDir string
	dirs     []string // watched
	seen     string   // fingerprint the last reload read
	gone     bool     // the config file was missing at the last check
}

// newConfigWatcher makes the watcher; an error means the platform gave
// none (the daemon then reloads on SIGHUP only).
func newConfigWatcher(logger *slog.Logger) (*configWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &configWatcher{w: w, logger: logger}, nil
}

// follow watches cfgPath's directory (and, for a symlink, its target's)
// and flowsDir ("" for none). Called again after each reload: the
// workflow directory or the link's target may have moved.
func (c *configWatcher) follow(cfgPath, flowsDir string) {
	if abs, err := filepath.Abs(cfgPath); err == nil {
		cfgPath = abs
	}
	want := []string{filepath.Dir(cfgPath)}
	if real, err := filepath.EvalSymlinks(cfgPath); err == nil && filepath.Dir(real) != want[0] {
		want = append(want, filepath.Dir(real))
	}
	if flowsDir != "" && !slices.Contains(want, flowsDir) {
		want = append(want, flowsDir)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	moved := c.flowsDir != flowsDir || c.cfgPath != cfgPath
	c.cfgPath, c.flowsDir = cfgPath, flowsDir
	for _, d := range c.dirs {
		if !slices.Contains(want, d) {
			_ = c.w.Remove(d)
		}
	}
	var dirs []string
	for _, d := range want {
		if slices.Contains(c.dirs, d) {
			dirs = append(dirs, d)
			continue
		}
		if err := c.w.Add(d); err != nil {
			c.logger.Warn("a directory is not watched for config changes; reload with SIGHUP after changing what it holds", "dir", d, "error", err.Error())
			continue
		}
		dirs = append(dirs, d)
	}
	c.dirs = dirs
	if moved {
		c.seen, _ = c.fingerprintLocked()
	}
}

// mark records what the files hold now as read: call it as a reload
// begins (whatever its outcome, SIGHUP's too), so that only a later
// change asks for another.
func (c *configWatcher) mark() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen, _ = c.fingerprintLocked()
}

// fingerprintLocked hashes the config file and each workflow file with
// its name; ok is false when the config file cannot be read.
func (c *configWatcher) fingerprintLocked() (fp string, ok bool) {
	h := sha256.New()
	b, err := os.ReadFile(c.cfgPath)
	if err != nil {
		return "", false
	}
	h.Write([]byte("config\x00"))
	h.Write(b)
	if c.flowsDir != "" {
		ents, _ := os.ReadDir(c.flowsDir)
		for _, e := range ents {
			if !isFlowFile(e.Name()) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(c.flowsDir, e.Name()))
			if err != nil {
				continue
			}
			h.Write([]byte("\x00flow\x00" + e.Name() + "\x00"))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

func isFlowFile(name string) bool {
	return strings.HasSuffix(name, ".flow.yaml") || strings.HasSuffix(name, ".flow.yml")
}

// check compares the files with what the last reload read, following a
// moved link target first, and reports whether a reload is due.
func (c *configWatcher) check() bool {
	c.mu.Lock()
	cfgPath, flowsDir := c.cfgPath, c.flowsDir
	c.mu.Unlock()
	c.follow(cfgPath, flowsDir)
	c.mu.Lock()
	defer c.mu.Unlock()
	fp, ok := c.fingerprintLocked()
	if !ok {
		if !c.gone {
			c.logger.Warn("the config file is gone; the daemon keeps its config until the file is back", "config", c.cfgPath)
		}
		c.gone = true
		return false
	}
	c.gone = false
	return fp != c.seen
}

// run passes changes on to changed (without blocking: one pending
// request is enough) until ctx ends.
func (c *configWatcher) run(ctx context.Context, changed chan<- struct{}) {
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-c.w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			settle.Reset(watchSettle)
		case err, ok := <-c.w.Errors:
			if !ok {
				return
			}
			// An overflow lost events: look at the files anyway.
			c.logger.Warn("watching the config for changes", "error", err.Error())
			settle.Reset(watchSettle)
		case <-settle.C:
			if c.check() {
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (c *configWatcher) close() { _ = c.w.Close() }
