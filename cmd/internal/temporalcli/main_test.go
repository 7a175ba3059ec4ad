package temporalcli

import (
	"os"
	"testing"

	"github.com/mediatorhq/mediator/internal/temporaltest"
)

// testServer is the package's one Temporal test server (TestMain);
// testServerErr says why there is none.
var (
	testServer    *temporaltest.Server
	testServerErr error
)

func TestMain(m *testing.M) {
	testServer, testServerErr = temporaltest.Start()
	code := m.Run()
	if testServer != nil {
		testServer.Stop()
	}
	os.Exit(code)
}
