package control

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/drover-dev/drover/failure"
	"sort"
	"strings"
	"time"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/state"
)

// Suspension is who suspended something, when and why.
type Suspension struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

func (s Suspension) String() string {
	out := "suspended by " + s.By + " at " + stamp(s.At)
	if s.Reason != "" {
		out += ": " + s.Reason
	}
	return out
}

// Suspensions is the one document kept at <state-prefix>suspend: the
// instance's suspension, if any, and each suspended job's, by
// "namespace/name".
type Suspensions struct {
	Instance *Suspension           `json:"instance,omitempty"`
	Jobs     map[string]Suspension `json:"jobs,omitempty"`
}

// Empty reports whether nothing is suspended.
func (s Suspensions) Empty() bool { return s.Instance == nil && len(s.Jobs) == 0 }

// Of returns the suspension that holds job k: its own, else the
// instance's.
func (s Suspensions) Of(k jobs.Key) (Suspension, bool) {
	if j, ok := s.Jobs[k.String()]; ok {
		return j, true
	}
	if s.Instance != nil {
		return *s.Instance, true
	}
	return Suspension{}, false
}

// Keys are the suspended jobs, sorted.
func (s Suspensions) Keys() []string {
	out := make([]string, 0, len(s.Jobs))
	for k := range s.Jobs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ParseJob reads a job as "name" or "namespace/name"; a bare name is in
// namespace ns (NOMAD_NAMESPACE, else "default": where a job file that
// names no namespace lands).
func ParseJob(s, ns string) (jobs.Key, error) {
	if ns == "" {
		ns = "default"
	}
	name, space := s, ns
	if before, after, ok := strings.Cut(s, "/"); ok {
		space, name = before, after
	}
	if space == "" || name == "" || strings.Contains(name, "/") {
		return jobs.Key{}, &JobError{Job: s}
	}
	return jobs.Key{Namespace: space, ID: name}, nil
}

// JobError is a job named in a way ParseJob cannot read.
type JobError struct{ Job string }

func (e *JobError) Error() string { return fmt.Sprintf("job %q: want name or namespace/name", e.Job) }

// Store keeps the suspensions in Consul KV. Writes are read-modify-CAS,
// retried when another writer got in between, so two operators never lose
// each other's suspensions. They are operator writes, not the leader's:
// not fenced.
type Store struct {
	kv      state.KV
	key     string
	timeout time.Duration
}

// NewStore keeps the suspensions at key; timeout bounds each call.
func NewStore(kv state.KV, key string, timeout time.Duration) *Store {
	return &Store{kv: kv, key: key, timeout: timeout}
}

// Key is where the suspensions are kept.
func (st *Store) Key() string { return st.key }

// Read returns the suspensions and the key's index (0: never written).
func (st *Store) Read(ctx context.Context) (Suspensions, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, st.timeout)
	defer cancel()
	p, err := st.kv.Get(ctx, st.key)
	if err != nil {
		return Suspensions{}, 0, fmt.Errorf("read suspensions: %w", err)
	}
	if p == nil {
		return Suspensions{}, 0, nil
	}
	var s Suspensions
	if len(p.Value) > 0 {
		if err := json.Unmarshal(p.Value, &s); err != nil {
			return Suspensions{}, p.ModifyIndex, &failure.Stall{
				What: "suspensions unreadable", Fix: "fix or delete <state-prefix>suspend",
				Err: &CorruptError{Key: st.key, Err: err},
			}
		}
	}
	return s, p.ModifyIndex, nil
}

// CorruptError is a suspensions document that is not drover's JSON:
// written by hand or by something else. Retrying cannot fix it: Read
// returns it in a failure.Stall.
type CorruptError struct {
	Key string
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("suspensions at %s are not valid JSON (fix or delete the key): %v", e.Key, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// maxCASTries bounds the retries of a write that keeps losing the race.
const maxCASTries = 20

// Update applies change to the stored suspensions and writes them back,
// again from a fresh read whenever another write got in between.
func (st *Store) Update(ctx context.Context, change func(*Suspensions)) (Suspensions, error) {
	for try := 0; try < maxCASTries; try++ {
		s, index, err := st.Read(ctx)
		if err != nil {
			return Suspensions{}, err
		}
		change(&s)
		b, err := json.Marshal(s)
		if err != nil {
			return Suspensions{}, fmt.Errorf("encode suspensions: %w", err)
		}
		wctx, cancel := context.WithTimeout(ctx, st.timeout)
		ok, _, err := st.kv.CAS(wctx, st.key, b, index)
		cancel()
		if err != nil {
			return Suspensions{}, fmt.Errorf("write suspensions: %w", err)
		}
		if ok {
			return s, nil
		}
	}
	return Suspensions{}, fmt.Errorf("write suspensions: %s kept changing under %d attempts", st.key, maxCASTries)
}

// Suspend suspends the jobs, or the whole instance when there are none.
// A job or instance already suspended gets the new who, when and why.
func (st *Store) Suspend(ctx context.Context, keys []jobs.Key, s Suspension) (Suspensions, error) {
	return st.Update(ctx, func(cur *Suspensions) {
		if len(keys) == 0 {
			cur.Instance = &s
			return
		}
		if cur.Jobs == nil {
			cur.Jobs = map[string]Suspension{}
		}
		for _, k := range keys {
			cur.Jobs[k.String()] = s
		}
	})
}

// Resume lifts the jobs' suspensions, or the instance's when there are
// none; each job suspended on its own stays so until resumed by name.
func (st *Store) Resume(ctx context.Context, keys []jobs.Key) (Suspensions, error) {
	return st.Update(ctx, func(cur *Suspensions) {
		if len(keys) == 0 {
			cur.Instance = nil
			return
		}
		for _, k := range keys {
			delete(cur.Jobs, k.String())
		}
		if len(cur.Jobs) == 0 {
			cur.Jobs = nil
		}
	})
}
