package serve

import (
	"testing"

	"github.com/mediatorhq/mediator/orchestrator"
)

// A host learns mediator's name and a version, on the session protocol
// (initialize) and on the newest (server/discover): the conformance
// suite's server-stateless scenario warns of a serverInfo without one.
func TestServerInfoHasVersion(t *testing.T) {
	r := newRig(t, Options{Gateway: true, Servers: []string{"notes"}}, orchestrator.Options{Servers: []orchestrator.ServerConfig{inProcess("notes", notesServer(nil))}})
	for _, version := range []string{"2025-11-25", ""} {
		h := r.connectAt(t, version, nil)
		ir := h.cs.InitializeResult()
		if ir == nil || ir.ServerInfo == nil {
			t.Fatalf("protocol %q: no serverInfo", version)
		}
		if ir.ServerInfo.Name != "mediator" || ir.ServerInfo.Version == "" {
			t.Errorf("protocol %q: serverInfo = %+v, want name mediator and a version", version, ir.ServerInfo)
		}
	}
}
