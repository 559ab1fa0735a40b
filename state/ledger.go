package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	gosync "sync"

	"github.com/drover-dev/drover/jobs"
)

// KV is the part of a key/value store the ledger needs: Consul KV in
// production, MemoryKV in tests.
type KV interface {
	// List returns every key under prefix with its value.
	List(ctx context.Context, prefix string) (map[string][]byte, error)
	Put(ctx context.Context, key string, value []byte) error
}

// Ledger is the state of every job, read once from the store and written
// through on every change. When the store is unreachable the ledger keeps
// working from memory and writes the changed jobs on the next Sync: losing
// Consul for a minute must not make drover forget a quarantine.
type Ledger struct {
	kv     KV
	prefix string

	mu     gosync.Mutex
	loaded bool
	jobs   map[jobs.Key]*Job
	dirty  map[jobs.Key]bool
}

// NewLedger returns a ledger over the jobs stored under prefix, which
// should end in "/".
func NewLedger(kv KV, prefix string) *Ledger {
	return &Ledger{kv: kv, prefix: prefix, jobs: map[jobs.Key]*Job{}, dirty: map[jobs.Key]bool{}}
}

// Prefix is where the ledger keeps its jobs.
func (l *Ledger) Prefix() string { return l.prefix }

// Sync reads the store the first time it is called, and writes the jobs
// whose earlier write failed. Until the first read succeeds the ledger
// knows nothing, and callers must not act on its silence.
func (l *Ledger) Sync(ctx context.Context) error {
	l.mu.Lock()
	loaded := l.loaded
	l.mu.Unlock()
	if !loaded {
		if err := l.load(ctx); err != nil {
			return err
		}
	}
	return l.flush(ctx)
}

// Loaded reports whether the store has been read.
func (l *Ledger) Loaded() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loaded
}

func (l *Ledger) load(ctx context.Context) error {
	kvs, err := l.kv.List(ctx, l.jobsPrefix())
	if err != nil {
		return fmt.Errorf("read state under %s: %w", l.jobsPrefix(), err)
	}
	read := make(map[jobs.Key]*Job, len(kvs))
	for k, v := range kvs {
		var j Job
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("state %s is not valid JSON (delete the key to start that job's state afresh): %w", k, err)
		}
		if j.ID == "" {
			return fmt.Errorf("state %s names no job (delete the key to start that job's state afresh)", k)
		}
		read[j.Key()] = &j
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Updates made before the first read (none in practice) win.
	for k, j := range read {
		if _, ok := l.jobs[k]; !ok {
			l.jobs[k] = j
		}
	}
	l.loaded = true
	return nil
}

func (l *Ledger) flush(ctx context.Context) error {
	l.mu.Lock()
	var pending []*Job
	for k := range l.dirty {
		pending = append(pending, l.jobs[k].Clone())
	}
	l.mu.Unlock()
	var errs []error
	for _, j := range pending {
		if err := l.write(ctx, j); err != nil {
			errs = append(errs, err)
			continue
		}
		l.mu.Lock()
		delete(l.dirty, j.Key())
		l.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Get returns a copy of a job's state, or nil when drover knows nothing of it.
func (l *Ledger) Get(k jobs.Key) *Job {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.jobs[k].Clone()
}

// All returns a copy of every job's state, sorted by key.
func (l *Ledger) All() []*Job {
	l.mu.Lock()
	out := make([]*Job, 0, len(l.jobs))
	for _, j := range l.jobs {
		out = append(out, j.Clone())
	}
	l.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].Key().String() < out[b].Key().String() })
	return out
}

// Update changes a job's state in memory and writes it to the store. The
// change is kept even when the write fails; it is written again by Sync.
// It returns the new state.
func (l *Ledger) Update(ctx context.Context, k jobs.Key, change func(*Job)) (*Job, error) {
	l.mu.Lock()
	j := l.jobs[k]
	if j == nil {
		j = &Job{Namespace: k.Namespace, ID: k.ID}
		l.jobs[k] = j
	}
	change(j)
	l.dirty[k] = true
	snapshot := j.Clone()
	l.mu.Unlock()

	if err := l.write(ctx, snapshot); err != nil {
		return snapshot, err
	}
	l.mu.Lock()
	// A newer update may have happened meanwhile; it is dirty again only
	// if it differs from what was written, which its own write handles.
	delete(l.dirty, k)
	l.mu.Unlock()
	return snapshot, nil
}

func (l *Ledger) write(ctx context.Context, j *Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode state of %s: %w", j.Key(), err)
	}
	key := l.key(j.Key())
	if err := l.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("write state %s: %w", key, err)
	}
	return nil
}

func (l *Ledger) jobsPrefix() string { return l.prefix + "jobs/" }

// key is where a job's state lives. Job IDs may hold "/", so both parts
// are escaped.
func (l *Ledger) key(k jobs.Key) string {
	return l.jobsPrefix() + url.PathEscape(k.Namespace) + "/" + url.PathEscape(k.ID)
}

// MemoryKV is a KV in memory, for tests.
type MemoryKV struct {
	mu gosync.Mutex
	m  map[string][]byte
	// err, when set, fails every call, as an unreachable store would.
	err error
}

// List implements KV.
func (m *MemoryKV) List(_ context.Context, prefix string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	out := map[string][]byte{}
	for k, v := range m.m {
		if strings.HasPrefix(k, prefix) {
			out[k] = append([]byte(nil), v...)
		}
	}
	return out, nil
}

// Put implements KV.
func (m *MemoryKV) Put(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.m == nil {
		m.m = map[string][]byte{}
	}
	m.m[key] = append([]byte(nil), value...)
	return nil
}

// SetErr makes every later call fail with err (nil to recover).
func (m *MemoryKV) SetErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}
