package cycle

import (
	"context"
	"errors"

	"github.com/drover-dev/drover/consul"
	"github.com/drover-dev/drover/control"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/nomad"
	"github.com/drover-dev/drover/source"
)

// Kind says what the caller of a failed cycle should do next (Flux's
// stalled-versus-retry model).
type Kind string

const (
	// Transient failures (a network error, a 5xx, a timeout) are retried
	// with exponential backoff: the next attempt may well work.
	Transient Kind = "transient"
	// Stalled failures need someone to change the configuration or the
	// remote: a ref that does not exist, refused credentials, an untrusted
	// SSH host key, a permission the Nomad or Consul token lacks. They are
	// retried slowly, and reported once per distinct reason.
	Stalled Kind = "stalled"
	// Interrupted cycles were stopped by shutdown.
	Interrupted Kind = "interrupted"
)

// Failure is a cycle that stopped: the step it stopped in, what kind of
// failure it was and, for a stalled one, what needs fixing.
type Failure struct {
	Step Step
	Kind Kind
	// Fix names what is wrong in words an operator acts on ("ref not
	// found"); empty for transient failures.
	Fix string
	Err error
}

func (f *Failure) Error() string {
	if f.Fix != "" {
		return f.Fix + ": " + f.Err.Error()
	}
	return f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// stalls are the errors retrying cannot fix, with what to tell the
// operator. Checked in order; typed errors only, never message text.
var stalls = []struct {
	match func(error) bool
	fix   string
}{
	{func(err error) bool { return errors.Is(err, source.ErrRefNotFound) }, "git ref not found (check --ref, or push it)"},
	{func(err error) bool { return errors.Is(err, source.ErrAuthRefused) }, "git credentials refused (check --git-token / --git-username)"},
	{func(err error) bool { return errors.Is(err, source.ErrHostKey) }, "SSH host key not trusted (check --ssh-known-hosts)"},
	{func(err error) bool { var e *jobs.FileTooLargeError; return errors.As(err, &e) }, "var file too large (shrink it in a new commit)"},
	{func(err error) bool { var e *control.CorruptError; return errors.As(err, &e) }, "suspensions unreadable (fix or delete <state-prefix>suspend)"},
	{nomad.IsForbidden, "permission denied by Nomad (check NOMAD_TOKEN's ACL policy)"},
	{consul.IsForbidden, "permission denied by Consul (check CONSUL_HTTP_TOKEN's ACL policy)"},
}

// classify turns a step's error into a Failure. ctx is the cycle's: a
// cancelled one makes any error an interruption.
func classify(ctx context.Context, step Step, err error) *Failure {
	if ctx.Err() != nil {
		return &Failure{Step: step, Kind: Interrupted, Err: err}
	}
	for _, s := range stalls {
		if s.match(err) {
			return &Failure{Step: step, Kind: Stalled, Fix: s.fix, Err: err}
		}
	}
	return &Failure{Step: step, Kind: Transient, Err: err}
}
