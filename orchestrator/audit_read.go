package orchestrator

import (
	"context"
	"errors"

	"github.com/mediatorhq/mediator/credentials"
)

// AuditReading is what ReadAudit found.
type AuditReading struct {
	// Path is the log read; "" when auditing is off (nothing was read).
	Path   string
	Report AuditReport
	// KeyErr says why the audit key could not be read; the keyed records'
	// MACs and the head were then not checked (Report.KeyChecked).
	KeyErr error
	// SyncErr says why records of calls that returned may be missing: they
	// could not be written, or ctx ended first.
	SyncErr error
}

// ReadAudit reads this orchestrator's own audit log through ReadAuditFile
// as a log being written (Growing): it first waits, until ctx ends, for
// the records of the calls that have returned to be written, and checks
// MACs and the head with the audit key when the keyring holds one (it
// never makes one). The error is ReadAuditFile's.
func (o *Orchestrator) ReadAudit(ctx context.Context, each func(AuditRecord) error) (AuditReading, error) {
	if o.audit == nil {
		return AuditReading{}, nil
	}
	r := AuditReading{Path: o.opts.AuditPath, SyncErr: o.SyncAudit(ctx)}
	var key *credentials.AuditKey
	if o.opts.AuditKeys != nil {
		k, err := o.opts.AuditKeys.AuditKey(ctx, false)
		switch {
		case err == nil:
			key = &k
		case !errors.Is(err, credentials.ErrNotFound):
			r.KeyErr = err
		}
	}
	var err error
	r.Report, err = ReadAuditFile(r.Path, AuditReadOptions{Key: key, Each: each, Growing: true})
	return r, err
}
