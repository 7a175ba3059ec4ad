// Package flows holds example workflow files (*.flow.yaml) for `mediator
// run`; its tests run each one against real servers.
package flows
