package reconcile

import (
	"sync"

	"github.com/drover-dev/drover/jobs"
)

// byJob is what the engine remembers per job from one cycle to the next
// (the plan memo, the version book), safe for a cycle's concurrent plans
// and registers. It keeps only the jobs git still has (retain).
type byJob[V any] struct {
	mu      sync.Mutex
	entries map[jobs.Key]V
}

// put needs mu held.
func (b *byJob[V]) put(key jobs.Key, v V) {
	if b.entries == nil {
		b.entries = map[jobs.Key]V{}
	}
	b.entries[key] = v
}

func (b *byJob[V]) forget(key jobs.Key) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.entries, key)
}

// retain drops the entries of jobs git no longer has, so what is
// remembered never outgrows the repository.
func (b *byJob[V]) retain(keep map[jobs.Key]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if !keep[k] {
			delete(b.entries, k)
		}
	}
}
