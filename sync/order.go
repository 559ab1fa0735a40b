package sync

import (
	"context"
	"fmt"
	"strings"

	"github.com/drover-dev/drover/jobs"
)

// order is the dependency graph of a set (jobs.MetaDependsOn), by index in
// set.Files. A job's plan never waits; only its register waits for the
// results of the jobs it depends on, so jobs that depend on nothing keep
// their parallelism.
type order struct {
	// deps are the files each file depends on.
	deps [][]int
	// keys are each file's dependencies as written, for the report.
	keys [][]jobs.Key
	// errs are the files whose dependencies can never be met as written:
	// a bad reference, a job git does not have, a cycle. Each is a
	// job.error and is not registered; it is still in git, so it is not
	// pruned either.
	errs []error
	// holds are the files that depend on a job that is not in the set
	// while some file failed to load: the broken file may be that job, so
	// the dependent is held rather than failed, the way such a cycle does
	// not prune.
	holds []string
}

// orderOf reads every loaded file's dependencies and checks them against
// the set.
func orderOf(set *jobs.Set) order {
	n := len(set.Files)
	o := order{deps: make([][]int, n), keys: make([][]jobs.Key, n), errs: make([]error, n), holds: make([]string, n)}
	index := make(map[jobs.Key]int, n)
	for i, f := range set.Files {
		if f.Err == nil {
			index[f.Key()] = i
		}
	}
	broken := set.Failed()
	for i, f := range set.Files {
		// A rollback (a last good spec put back) waits for nothing:
		// putting back what was healthy comes first, and the order its
		// old spec asked for may name jobs git no longer has.
		if f.Err != nil || f.Commit != "" {
			continue
		}
		keys, err := f.DependsOn()
		if err != nil {
			o.errs[i] = err
			continue
		}
		o.keys[i] = keys
		var missing []string
		for _, k := range keys {
			if j, ok := index[k]; ok {
				o.deps[i] = append(o.deps[i], j)
			} else {
				missing = append(missing, k.String())
			}
		}
		switch {
		case len(missing) == 0:
		case broken:
			o.holds[i] = fmt.Sprintf("dependency %s is not among the jobs loaded from git; a job file failed to load and may be it",
				strings.Join(missing, ", "))
		default:
			o.errs[i] = fmt.Errorf("%s: meta %s: unknown dependency %s: no job file in git declares it",
				f.Path, jobs.MetaDependsOn, strings.Join(missing, ", "))
		}
	}
	for i, c := range cycles(o.deps) {
		if c == nil {
			continue
		}
		names := make([]string, len(c))
		for j, at := range c {
			names[j] = set.Files[at].Key().String()
		}
		err := fmt.Errorf("%s: meta %s: dependency cycle %s", set.Files[i].Path, jobs.MetaDependsOn, strings.Join(names, " → "))
		if o.errs[i] != nil {
			err = fmt.Errorf("%w; %s", o.errs[i], strings.TrimPrefix(err.Error(), set.Files[i].Path+": "))
		}
		o.errs[i] = err
	}
	return o
}

// cycles returns, for every node on a cycle of deps, one such cycle from
// the node back to itself (the node first and last); nil for the others.
func cycles(deps [][]int) [][]int {
	out := make([][]int, len(deps))
	for start := range deps {
		// Breadth first from start's dependencies: the shortest way
		// back to start, if there is one.
		prev := map[int]int{}
		queue := []int{}
		for _, d := range deps[start] {
			if _, seen := prev[d]; !seen {
				prev[d] = start
				queue = append(queue, d)
			}
		}
		for len(queue) > 0 && out[start] == nil {
			at := queue[0]
			queue = queue[1:]
			if at == start {
				path := []int{start}
				for p := prev[start]; p != start; p = prev[p] {
					path = append(path, p)
				}
				path = append(path, start)
				// Collected walking back: reverse into dependency order.
				for l, r := 1, len(path)-2; l < r; l, r = l+1, r-1 {
					path[l], path[r] = path[r], path[l]
				}
				out[start] = path
				break
			}
			for _, d := range deps[at] {
				if _, seen := prev[d]; !seen {
					prev[d] = at
					queue = append(queue, d)
				}
			}
		}
	}
	return out
}

// slot is one job's place in the engine's bound on parallel jobs.
type slot struct {
	sem  chan struct{}
	held bool
}

func (s *slot) release() {
	if s.held {
		<-s.sem
		s.held = false
	}
}

func (s *slot) acquire(ctx context.Context) bool {
	select {
	case s.sem <- struct{}{}:
		s.held = true
		return true
	case <-ctx.Done():
		return false
	}
}

// await waits for the results of the jobs file i depends on and says why
// it must not be registered now; "" when every one is in sync with git and
// settled. The slot is given up while waiting: a dependency may need it
// (with --parallel 1 it needs this very one).
func (e *Engine) await(ctx context.Context, s *slot, set *jobs.Set, deps []int, results []*JobResult, done []chan struct{}) string {
	s.release()
	var why []string
	for _, d := range deps {
		select {
		case <-done[d]:
		case <-ctx.Done():
			return ""
		}
		if reason := dependencyHold(set.Files[d], results[d]); reason != "" {
			why = append(why, reason)
		}
	}
	if !s.acquire(ctx) {
		return ""
	}
	return strings.Join(why, "; ")
}

// dependencyHold says why a job depending on f, whose result this cycle is
// d, must wait; "" when f is in sync with git and not held: its rollout
// is healthy or it needed none.
func dependencyHold(f *jobs.File, d *JobResult) string {
	k := d.Key.String()
	switch {
	case d.Err != nil:
		return fmt.Sprintf("dependency %s failed: %v", k, d.Err)
	case f.Commit != "":
		return fmt.Sprintf("dependency %s runs its last good commit %s: the spec in git is quarantined after its rollout failed",
			k, shortCommit(f.Commit))
	case d.Hold != "":
		return fmt.Sprintf("dependency %s is held: %s", k, d.Hold)
	case d.Applied != nil:
		return fmt.Sprintf("waiting for dependency %s: registered in this cycle, its rollout must be healthy first", k)
	case d.Class != InSync:
		return fmt.Sprintf("waiting for dependency %s: it differs from git (%s) and is registered first", k, d.Class)
	}
	return ""
}

func shortCommit(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
