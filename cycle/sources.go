package cycle

import (
	"context"
	"fmt"
	"sync"

	"github.com/drover-dev/drover/jobs"
	"github.com/rs/zerolog"
)

// NamedSource is one source: where its jobs come from and how they are
// loaded. The source flags (--repo, --dir…) make one with no name; each
// source block of --config makes a named one.
type NamedSource struct {
	// Name is stamped on the source's jobs (meta drover.source); "" for
	// the flags' source, which is the only one: its set is the cycle's as
	// it is, with no source named in it.
	Name string
	// Repo identifies what Source fetches (URL and ref): sources with the
	// same Repo share one fetch per cycle, as long as they share Source.
	Repo   string
	Source Source
	// Loader is the source's own (*jobs.Loader with Source set to Name).
	Loader Loader
	Prune  bool
}

// Sources follows a Runner's sources as one, so the cycle is the same with
// one source or many. A
// source that cannot be fetched or loaded does not stop the others: its
// jobs are held at what it last gave and none of its orphans is stopped.
// Only when every source fails does the cycle fail, with the first
// source's error, classified as it would be with that source alone.
type Sources struct {
	list []NamedSource
	log  zerolog.Logger
	// last is each source's last loaded set, owned by the cycle.
	last map[string]*jobs.Set
	// lastErr is each failing source's reason, to log it once.
	lastErr map[string]string
	merged  *jobs.Set
	// mergedFrom are the sets merged, to return the same merged set when
	// no source changed.
	mergedFrom []*jobs.Set
}

// newSources follows list, in that order.
func newSources(list []NamedSource, log zerolog.Logger) *Sources {
	return &Sources{list: list, log: log, last: map[string]*jobs.Set{}, lastErr: map[string]string{}}
}

// unnamed reports whether s follows the flags' one source, whose set and
// errors are its own, with no source named in them.
func (s *Sources) unnamed() bool { return len(s.list) == 1 && s.list[0].Name == "" }

// wrap names src in err, the step it failed in; the flags' source is
// named by nothing, and its errors read as they always did.
func wrap(src NamedSource, step string, err error) error {
	if src.Name == "" {
		return err
	}
	return fmt.Errorf("source %q: %s: %w", src.Name, step, err)
}

// Fetched is what Fetch gives Load: each source's tree or error.
type Fetched struct {
	trees map[string]jobs.Tree
	errs  map[string]error
}

// Fetch fetches every distinct repo once, all at the same time.
func (s *Sources) Fetch(ctx context.Context) (*Fetched, error) {
	type result struct {
		tree jobs.Tree
		err  error
	}
	first := map[string]int{}
	results := make([]result, len(s.list))
	var wg sync.WaitGroup
	for i, src := range s.list {
		if _, ok := first[src.Repo]; ok {
			continue
		}
		first[src.Repo] = i
		wg.Add(1)
		go func() {
			defer wg.Done()
			t, err := src.Source.Fetch(ctx)
			results[i] = result{t, err}
		}()
	}
	wg.Wait()
	out := &Fetched{trees: map[string]jobs.Tree{}, errs: map[string]error{}}
	var firstErr error
	for _, src := range s.list {
		r := results[first[src.Repo]]
		if r.err != nil {
			out.errs[src.Name] = wrap(src, "fetch", r.err)
			if firstErr == nil {
				firstErr = out.errs[src.Name]
			}
			continue
		}
		out.trees[src.Name] = r.tree
	}
	if len(out.trees) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// Load loads each fetched source with its own loader and merges the sets.
func (s *Sources) Load(ctx context.Context, f *Fetched) (*jobs.Set, error) {
	if s.unnamed() {
		// Nothing to merge: the set is the source's own, the same set
		// when its commit did not move.
		src := s.list[0]
		return src.Loader.Load(ctx, f.trees[src.Name])
	}
	parts := make([]jobs.SourceSet, len(s.list))
	sets := make([]*jobs.Set, len(s.list))
	var firstErr error
	failed := false
	for i, src := range s.list {
		err := f.errs[src.Name]
		if err == nil {
			var set *jobs.Set
			set, err = src.Loader.Load(ctx, f.trees[src.Name])
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				err = wrap(src, "load", err)
			} else {
				s.last[src.Name], sets[i] = set, set
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		parts[i] = s.part(src, err)
		failed = failed || err != nil
	}
	if firstErr != nil && allFailed(parts) {
		return nil, firstErr
	}
	if !failed && sameSets(sets, s.mergedFrom) {
		return s.merged, nil
	}
	merged := jobs.Merge(parts)
	s.merged, s.mergedFrom = merged, sets
	return merged, nil
}

// part is what src gives this cycle: its new set, or, when err says it
// could not be read, its last set with every job held.
func (s *Sources) part(src NamedSource, err error) jobs.SourceSet {
	p := jobs.SourceSet{SourceOutcome: jobs.SourceOutcome{Name: src.Name, Prune: src.Prune, Err: err}}
	last := s.last[src.Name]
	if last != nil {
		p.Revision, p.Commit = last.Revision, last.Commit
	}
	if err == nil {
		if s.lastErr[src.Name] != "" {
			s.log.Info().Str("event", "source.recovered").Str("source", src.Name).Str("commit", p.Revision).Msg("source read again")
			delete(s.lastErr, src.Name)
		}
		p.Set = last
		return p
	}
	if s.lastErr[src.Name] != err.Error() {
		// Once per reason: a source down for a day says so once.
		s.lastErr[src.Name] = err.Error()
		s.log.Error().Str("event", "source.error").Str("source", src.Name).Err(err).
			Msg("source could not be read; its jobs are held at what it last gave and none is pruned")
	}
	if last == nil {
		return p
	}
	held := &jobs.Set{Revision: last.Revision, Commit: last.Commit}
	for _, f := range last.Files {
		if f.Err == nil {
			h := *f
			h.Hold = fmt.Sprintf("source %q could not be read: %v", src.Name, err)
			f = &h
		}
		held.Files = append(held.Files, f)
	}
	p.Set = held
	return p
}

func allFailed(parts []jobs.SourceSet) bool {
	for _, p := range parts {
		if p.Err == nil {
			return false
		}
	}
	return true
}

func sameSets(a, b []*jobs.Set) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
