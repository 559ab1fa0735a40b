package cycle

import (
	"context"

	"github.com/drover-dev/drover/failure"
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

// classify turns a step's error into a Failure. ctx is the cycle's: a
// cancelled one makes any error an interruption. Whether an error stalls
// is its own to say (a failure.Stall where it was made); any other is
// transient.
func classify(ctx context.Context, step Step, err error) *Failure {
	if ctx.Err() != nil {
		return &Failure{Step: step, Kind: Interrupted, Err: err}
	}
	if s, ok := failure.StallOf(err); ok {
		return &Failure{Step: step, Kind: Stalled, Fix: s.Reason(), Err: err}
	}
	return &Failure{Step: step, Kind: Transient, Err: err}
}
