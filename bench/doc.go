// Package bench measures what mediation costs: one orchestrator Call
// (lookup, filter, pin check, schema validation, keyed audit record) against a
// direct go-sdk CallTool on the same server, in-process and over loopback
// streamable HTTP; and a whole one-shot `mediator call` process against a
// bare go-sdk client process on the same stdio server (TestOneShotRatio,
// with bench/bareclient and bench/stdioserver); and a call through the real
// `mediator serve --stdio` binary against the same call made directly on
// the backend over loopback HTTP (TestServeRatio), beside the floor of any
// go-sdk stdio gateway, a bare proxy (bench/stdioproxy). Run
// ./bench/ratio.sh for the mediated/direct ratios; docs/serve.md keeps the
// serve figures.
// `go test ./bench -run TestWarmCallRatio -v -args -warm` times a warm
// `mediator call` through a daemon's socket against a cold one
// (--no-daemon) on server-everything, in the same run.
// `go test ./bench -run TestPinsBesideBigServer -args -pins` measures what
// a server with 50,000 pinned tools costs another server's calls.
package bench
