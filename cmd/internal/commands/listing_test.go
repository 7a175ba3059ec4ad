package commands_test

import (
	"strings"
	"testing"

	"github.com/mediatorhq/mediator/internal/hostile"
)

// A listing of every server says why each missing server is missing, and
// the same way for every listing command: a server whose listing was
// refused and a server that could not be reached are both named, whatever
// the order they failed in.
func TestToolsOfAllNameEveryUnlistedServer(t *testing.T) {
	e := newTestEnv(t)
	few, notes := hostile.NewManyTools(5), hostile.NewRugPull()
	e.writeConfig("servers:\n" +
		"  few:\n    url: " + few.URL(t) + "\n    max_tools: 4\n" +
		"  notes:\n    url: " + notes.URL(t) + "\n" +
		"  down:\n    url: " + downURL(t) + "\n    timeout: 10s\n")
	res := e.run("", "tools")
	expectCode(t, res, 3, "tools of all with a server down")
	if !strings.Contains(res.stdout, "notes.") {
		t.Errorf("the reachable server's tools should be listed:\n%s", res.stdout)
	}
	for _, want := range []string{"some servers' tools are not listed", "more than 4 tools", `"down"`} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr should say %q:\n%s", want, res.stderr)
		}
	}
}
