package commands_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mediatorhq/mediator/internal/sandbox"
	"github.com/mediatorhq/mediator/internal/testenv"
)

// A Claude Desktop config imported as it is runs sandboxed with no new
// settings: the filesystem server writes in the directories of its args,
// the memory server creates the file of its MEMORY_FILE_PATH.
func TestImportedDesktopConfigRunsSandboxed(t *testing.T) {
	if st := sandbox.Probe(); !st.Available {
		testenv.Missing(t, "sandbox: %s", st.Reason)
	}
	fsCmd, fsArgs := testenv.NPMServer(t, "mcp-server-filesystem")
	memCmd, memArgs := testenv.NPMServer(t, "mcp-server-memory")
	docs, memDir := t.TempDir(), t.TempDir()
	memFile := filepath.Join(memDir, "memory.json")
	desktop := map[string]any{"mcpServers": map[string]any{
		"filesystem": map[string]any{"command": fsCmd, "args": append(fsArgs, docs)},
		"memory":     map[string]any{"command": memCmd, "args": memArgs, "env": map[string]string{"MEMORY_FILE_PATH": memFile}},
	}}
	b, _ := json.Marshal(desktop)
	e := newTestEnv(t)
	e.writeConfig("servers: {}\n")
	src := filepath.Join(e.dir, "claude_desktop_config.json")
	if err := os.WriteFile(src, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun("", "servers", "import", src)

	r := e.mustRun("", "servers", "--json")
	var rows []struct {
		Name, State string
		Sandbox     struct{ Confined bool }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("servers --json: %v\n%s", err, r.stdout)
	}
	for _, row := range rows {
		if row.State != "ready" || !row.Sandbox.Confined {
			t.Errorf("%s should be ready and sandboxed:\n%s", row.Name, r.stdout)
		}
	}
	note := filepath.Join(docs, "note.txt")
	e.mustRun("", "call", "filesystem", "write_file", "-a", "path="+note, "-a", "content=from the sandbox")
	if got, err := os.ReadFile(note); err != nil || string(got) != "from the sandbox" {
		t.Errorf("write_file: %v %q", err, got)
	}
	e.mustRun("", "call", "memory", "create_entities", "--args", `{"entities":[{"name":"m","entityType":"t","observations":["o"]}]}`)
	if _, err := os.Stat(memFile); err != nil {
		t.Errorf("the memory server did not create its file: %v", err)
	}
}
