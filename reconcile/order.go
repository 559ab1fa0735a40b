package reconcile

import (
	"context"
	"fmt"
	"slices"
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
// The strongly connected components find the nodes on cycles in linear
// time; only within a component is a shortest way back searched for.
func cycles(deps [][]int) [][]int {
	out := make([][]int, len(deps))
	for _, comp := range components(deps) {
		if len(comp) == 1 && !slices.Contains(deps[comp[0]], comp[0]) {
			continue
		}
		in := make(map[int]bool, len(comp))
		for _, n := range comp {
			in[n] = true
		}
		for _, n := range comp {
			out[n] = shortestCycle(deps, n, in)
		}
	}
	return out
}

// components are the strongly connected components of deps (Tarjan).
func components(deps [][]int) [][]int {
	n := len(deps)
	index, low := make([]int, n), make([]int, n)
	onStack := make([]bool, n)
	var stack []int
	var out [][]int
	next := 1 // 0 is "not visited yet"
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range deps[v] {
			switch {
			case index[w] == 0:
				visit(w)
				low[v] = min(low[v], low[w])
			case onStack[w]:
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var comp []int
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			comp = append(comp, w)
			if w == v {
				break
			}
		}
		out = append(out, comp)
	}
	for v := range deps {
		if index[v] == 0 && len(deps[v]) > 0 {
			visit(v)
		}
	}
	return out
}

// shortestCycle is a shortest way from start back to itself through the
// nodes of in, in dependency order: start, what it depends on, …, start.
func shortestCycle(deps [][]int, start int, in map[int]bool) []int {
	prev := map[int]int{}
	queue := []int{start}
	for len(queue) > 0 {
		at := queue[0]
		queue = queue[1:]
		for _, d := range deps[at] {
			if !in[d] {
				continue
			}
			if d == start {
				path := []int{start}
				for p := at; p != start; p = prev[p] {
					path = append(path, p)
				}
				// Collected walking back: reverse the middle.
				slices.Reverse(path[1:])
				return append(path, start)
			}
			if _, seen := prev[d]; !seen {
				prev[d] = at
				queue = append(queue, d)
			}
		}
	}
	return nil
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
