package temporalcli

import (
	"os"
	"testing"

	"github.com/mediatorhq/mediator/internal/temporaltest"
)

// server is the package's one Temporal test server.
var server temporaltest.Shared

func TestMain(m *testing.M) { os.Exit(server.Run(m)) }
