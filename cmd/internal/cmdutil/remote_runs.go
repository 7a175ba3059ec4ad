package cmdutil

// RemoteRuns is a flow engine outside this process (Temporal), as `run`
// and `runs` use it.
type RemoteRuns interface {
	Close() error
}
