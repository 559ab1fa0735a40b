package rollout

import (
	"context"
	"fmt"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/state"
)

// Pin decides, for each job of set, what the cycle may register: a spec
// whose rollout failed is replaced by the spec of the job's last good
// commit (or held when there is none, or rollback is off), and a job whose
// rollout is being watched is held so a cycle never fights the rollout or
// Nomad's own auto_revert. The returned set shares the unchanged files.
func (m *Manager) Pin(ctx context.Context, set *jobs.Set) *jobs.Set {
	pins := map[jobs.Key]pin{}
	// Last good specs are read from git and parsed once, not every cycle.
	used := map[string]*jobs.File{}
	// A copy of the whole set: what describes it (commit, skipped files,
	// prune limits) goes on to the sync with the pinned files.
	cp := *set
	out := &cp
	out.Files = make([]*jobs.File, len(set.Files))
	for i, f := range set.Files {
		out.Files[i] = f
		if f.Err != nil {
			continue
		}
		k := f.Key()
		if err := m.ledger.Invalid(k); err != nil {
			// Its quarantines cannot be known: do not act on silence.
			held := *f
			held.Hold = fmt.Sprintf("its rollout state cannot be read: %v", err)
			pins[k], out.Files[i] = pin{hold: held.Hold}, &held
			continue
		}
		s := m.ledger.Get(k)
		if s == nil {
			continue
		}
		if q, bad := s.QuarantineOf(f.Fingerprint); bad {
			p, nf := m.pinQuarantined(ctx, f, s, q, used)
			pins[k], out.Files[i] = p, nf
			continue
		}
		if r := m.watching(k); r != nil && r.Fingerprint == f.Fingerprint {
			held := *f
			held.Hold = fmt.Sprintf("rollout of commit %s (version %d) is being watched", short(r.Commit), r.Version)
			out.Files[i] = &held
		}
	}
	needed := dependedOn(out)
	m.mu.Lock()
	m.pins, m.specCache, m.needed = pins, used, needed
	m.mu.Unlock()
	return out
}

// dependedOn is the jobs some job of set depends on (jobs.MetaDependsOn):
// when one of their rollouts ends healthy, a cycle is asked for at once so
// the jobs held for it are registered without waiting for the interval.
func dependedOn(set *jobs.Set) map[jobs.Key]bool {
	out := map[jobs.Key]bool{}
	for _, f := range set.Files {
		if f.Err != nil {
			continue
		}
		// A bad reference is the engine's job.error; here it only
		// names no job to wait for.
		deps, _ := f.DependsOn()
		for _, k := range deps {
			out[k] = true
		}
	}
	return out
}

// released asks for a cycle when the jobs held for k may now go: its
// rollout ended without failing and some job depends on it.
func (m *Manager) released(k jobs.Key) {
	m.mu.Lock()
	needed := m.needed[k]
	m.mu.Unlock()
	if needed {
		m.opts.Trigger("dependency " + k.String() + " settled")
	}
}

func (m *Manager) pinQuarantined(ctx context.Context, f *jobs.File, s *state.Job, q state.Quarantine, used map[string]*jobs.File) (pin, *jobs.File) {
	p := pin{quarantine: q}
	why := fmt.Sprintf("spec of commit %s is quarantined after its rollout failed", short(q.Commit))
	hold := func(reason string) (pin, *jobs.File) {
		held := *f
		held.Hold = why + "; " + reason
		p.hold = held.Hold
		return p, &held
	}
	switch {
	case m.opts.NoRollback:
		return hold("rollback is off (--no-rollback); push a fix")
	case s.LastGood == nil:
		return hold("there is no last good commit to roll back to; push a fix")
	case m.specs == nil:
		return hold("no git history to roll back from")
	}
	good, err := m.lastGoodSpec(ctx, s.LastGood, used)
	if err == nil && good.Key() != f.Key() {
		err = fmt.Errorf("%s declares job %s there, not %s", s.LastGood.Path, good.Key(), f.Key())
	}
	if err != nil {
		// The bad spec keeps running: say so once, count it, show it, and
		// try again next cycle (the commit may be fetchable later).
		reason := fmt.Sprintf("cannot read the last good commit %s: %v", short(s.LastGood.Commit), err)
		m.rollbackFailed(f.Key(), q, s.LastGood.Commit, reason)
		p.failed = reason
		return hold("rollback failed: " + reason)
	}
	m.mu.Lock()
	delete(m.unrollable, f.Key())
	m.mu.Unlock()
	g := *good
	g.Commit = s.LastGood.Commit
	g.SourceName = f.SourceName
	p.to = s.LastGood.Commit
	return p, &g
}

// rollbackFailed logs and counts a rollback that could not be made, once
// per job and reason.
func (m *Manager) rollbackFailed(k jobs.Key, q state.Quarantine, to, reason string) {
	m.mu.Lock()
	seen := m.unrollable[k] == reason
	m.unrollable[k] = reason
	m.mu.Unlock()
	if seen {
		return
	}
	m.opts.Emitter.Emit(events.RollbackFailed{Subject: subject(k, state.Rollout{Revision: state.Revision{Commit: q.Commit}}),
		FromCommit: q.Commit, ToCommit: to, Reason: reason},
		"could not put the last good commit back; the failed spec keeps running, will try again next cycle")
	m.record(nil, "failed")
}

func (m *Manager) lastGoodSpec(ctx context.Context, rev *state.Revision, used map[string]*jobs.File) (*jobs.File, error) {
	k := rev.Commit + "\x00" + rev.Path + "\x00" + rev.Source
	m.mu.Lock()
	f := m.specCache[k]
	m.mu.Unlock()
	if f == nil {
		var err error
		if ss, ok := m.specs.(SourceSpecs); ok && rev.Source != "" {
			f, err = ss.JobFrom(ctx, rev.Source, rev.Commit, rev.Path)
		} else {
			f, err = m.specs.JobAt(ctx, rev.Commit, rev.Path)
		}
		if err != nil {
			return nil, err
		}
	}
	used[k] = f
	return f, nil
}

// watching returns the rollout this manager is watching for k, if any. Only
// a live watch holds a job: a rollout left in flight by an agent that is
// gone must not hold it forever.
func (m *Manager) watching(k jobs.Key) *state.Rollout {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.watches[k]; w != nil {
		r := w.rollout
		return &r
	}
	return nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
