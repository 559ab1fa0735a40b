package agent

import (
	"context"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/leader"
)

// Holder names the replica that leads.
type Holder = leader.Holder

// Leadership elects the one replica of an instance that acts: fetches,
// plans, registers, watches rollouts and writes state.
type Leadership interface {
	// Campaign blocks until this replica leads, or ctx ends.
	Campaign(ctx context.Context) (Term, error)
	// Leader is the replica that leads now, nil when none does.
	Leader(ctx context.Context) (*Holder, error)
}

// Term is one leadership.
type Term interface {
	// Lost is closed when the leadership ends.
	Lost() <-chan struct{}
	// Valid reports, without a network call, whether the leadership still
	// holds: checked right before every write Consul cannot fence.
	Valid() bool
	// Resign gives the leadership up, so another replica takes over at
	// once.
	Resign()
}

// TermFunc builds what one leadership runs: a cycle runner over a fresh
// read of the state, resuming the rollouts a previous leader left in
// flight, whose writes are fenced by term. The runner's goroutines stop
// when ctx ends or Close is called.
type TermFunc func(ctx context.Context, term Term) (Cycles, RolloutStatus, error)

// Fixed is the TermFunc of parts built once: for a lone agent, and tests.
func Fixed(cycles Cycles, rollouts RolloutStatus) TermFunc {
	return func(context.Context, Term) (Cycles, RolloutStatus, error) { return cycles, rollouts, nil }
}

// Triggers carries sync requests from the replicas that do not lead to the
// one that does.
type Triggers interface {
	// Send asks the leader for a cycle.
	Send(ctx context.Context, reason, via string) error
	// Next returns the newest request once it is past index (at once when
	// index is 0), or when wait passes, with the index to wait on next.
	Next(ctx context.Context, index uint64, wait time.Duration) (reason, via string, next uint64, err error)
}

// Roles of a replica, for /v1/status.
const (
	RoleSingle  = api.RoleSingle
	RoleLeader  = api.RoleLeader
	RoleStandby = api.RoleStandby
)

// lone is the Leadership of an agent that runs alone (--ha=false): it
// leads at once and forever.
type lone struct{}

func (lone) Campaign(context.Context) (Term, error)  { return loneTerm{}, nil }
func (lone) Leader(context.Context) (*Holder, error) { return nil, nil }

type loneTerm struct{}

func (loneTerm) Lost() <-chan struct{} { return nil }
func (loneTerm) Valid() bool           { return true }
func (loneTerm) Resign()               {}
