package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// hungParser never answers: a Nomad that accepts connections and hangs.
type hungParser struct{ calls atomic.Int32 }

func (p *hungParser) ParseJob(ctx context.Context, _ *api.JobsParseRequest) (*api.Job, error) {
	p.calls.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestLoad_HungParserFailsTheLoadOnce: each parse has its own deadline, and
// the first one that passes stops the load, instead of every file waiting
// out its own timeout a few at a time.
func TestLoad_HungParserFailsTheLoadOnce(t *testing.T) {
	tree := &fakeTree{rev: "c1", files: map[string]string{}}
	for i := range 40 {
		tree.files[fmt.Sprintf("j%02d.nomad", i)] = fmt.Sprintf("job = j%02d", i)
	}
	p := &hungParser{}
	progress := atomic.Int32{}
	l := &Loader{Parser: p, Parallel: 4, CallTimeout: 50 * time.Millisecond, Progress: func() { progress.Add(1) }}
	set, err := l.Load(context.Background(), tree)
	if set != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Load = %v, %v; want no set and the parse deadline", set, err)
	}
	// Only the first wave of parses started; the others saw the abort.
	if n := p.calls.Load(); n > 4 {
		t.Errorf("%d parse calls started, want at most the 4 of the first wave", n)
	}
	if progress.Load() == 0 {
		t.Error("no progress reported for the parses that ended")
	}
}
