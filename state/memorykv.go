package state

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// MemoryKV is a KV in memory with Consul's index semantics, for tests: one
// index counter for the whole store, so every write gets an index larger
// than any before it. Its zero value is an empty store.
type MemoryKV struct {
	mu    sync.Mutex
	m     map[string]Pair
	index uint64
	// err, when set, fails every call, as an unreachable store would.
	err error
	// failN calls fail with failErr.
	failN   int
	failErr error
	hook    func(context.Context, Call) error
}

// Call describes one call to a MemoryKV, for a hook.
type Call struct {
	// Op is "list", "get" or "cas".
	Op  string
	Key string
	// Value and Index are a CAS's arguments.
	Value []byte
	Index uint64
}

// SetErr makes every later call fail with err (nil to recover).
func (m *MemoryKV) SetErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// FailNext makes the next n calls fail with err.
func (m *MemoryKV) FailNext(n int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failN, m.failErr = n, err
}

// SetHook runs h before every later call, outside the store's lock, with
// the call's context: h may block (to hold a write until the test releases
// it, or until ctx is done as a hung store would), write to the store
// itself (a write whose response is lost), or return an error, which fails
// the call without touching the store. nil removes the hook.
func (m *MemoryKV) SetHook(h func(ctx context.Context, c Call) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hook = h
}

// Put writes a key unconditionally, as an operator's `consul kv put`
// would, and returns its new index.
func (m *MemoryKV) Put(key string, value []byte) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.put(key, value)
}

// Delete removes a key, as an operator's `consul kv delete` would.
func (m *MemoryKV) Delete(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.index++
	delete(m.m, key)
}

// Value returns a key's value, or nil when it is absent.
func (m *MemoryKV) Value(key string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.m[key]; ok {
		return clone(p.Value)
	}
	return nil
}

// List implements KV.
func (m *MemoryKV) List(ctx context.Context, prefix string) ([]Pair, error) {
	if err := m.enter(ctx, Call{Op: "list", Key: prefix}); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Pair
	for k, p := range m.m {
		if strings.HasPrefix(k, prefix) {
			p.Value = clone(p.Value)
			out = append(out, p)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Key < out[b].Key })
	return out, nil
}

// Get implements KV.
func (m *MemoryKV) Get(ctx context.Context, key string) (*Pair, error) {
	if err := m.enter(ctx, Call{Op: "get", Key: key}); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.m[key]
	if !ok {
		return nil, nil
	}
	p.Value = clone(p.Value)
	return &p, nil
}

// CAS implements KV.
func (m *MemoryKV) CAS(ctx context.Context, key string, value []byte, index uint64) (bool, uint64, error) {
	if err := m.enter(ctx, Call{Op: "cas", Key: key, Value: clone(value), Index: index}); err != nil {
		return false, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m[key].ModifyIndex != index {
		return false, 0, nil
	}
	return true, m.put(key, value), nil
}

// enter runs the hook and the injected failures before a call.
func (m *MemoryKV) enter(ctx context.Context, c Call) error {
	m.mu.Lock()
	hook := m.hook
	m.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, c); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.failN > 0 {
		m.failN--
		return m.failErr
	}
	return nil
}

func (m *MemoryKV) put(key string, value []byte) uint64 {
	if m.m == nil {
		m.m = map[string]Pair{}
	}
	m.index++
	m.m[key] = Pair{Key: key, Value: clone(value), ModifyIndex: m.index}
	return m.index
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
