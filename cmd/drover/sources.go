package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/drover-dev/drover/agent"
	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/rollout"
	"github.com/drover-dev/drover/source"
	"github.com/rs/zerolog"
)

// sourceRepo is a config file's source with the repo it is read from.
// Sources of the same repo and ref share one *source.Repo: one fetch.
type sourceRepo struct {
	sourceConfig
	repo *source.Repo
	// key is the repo and ref, which the sharing sources have in common.
	key string
}

// openSources opens the repo of every source, once per repo and ref. Two
// refs of one repo get clones of their own: a clone follows one ref, and
// both are fetched at once.
func openSources(ctx context.Context, c *config, log zerolog.Logger) ([]*sourceRepo, error) {
	byKey := map[string]*source.Repo{}
	refsOf := map[string]int{}
	var out []*sourceRepo
	for _, s := range c.sources {
		key := s.repo + "\x00" + s.ref
		r := byKey[key]
		if r == nil {
			dataDir := c.dataDir
			if n := refsOf[s.repo]; n > 0 {
				dataDir = filepath.Join(c.dataDir, fmt.Sprintf("ref-%d", n))
			}
			refsOf[s.repo]++
			openCtx, cancel := context.WithTimeout(ctx, c.gitTimeout)
			var err error
			r, err = source.Open(openCtx, source.Options{URL: s.repo, Ref: s.ref, DataDir: dataDir, Auth: s.auth, Logger: log})
			cancel()
			if err != nil {
				return nil, fmt.Errorf("source %q: %w", s.name, err)
			}
			byKey[key] = r
		}
		out = append(out, &sourceRepo{sourceConfig: s, repo: r, key: key})
	}
	return out, nil
}

// loader is the source's own loader: its paths, variables and namespace.
func (s *sourceRepo) loader(w *wiring, c *config, progress *cycle.Progress) *jobs.Loader {
	ns := s.namespace
	if ns == "" {
		ns = os.Getenv("NOMAD_NAMESPACE")
	}
	return &jobs.Loader{
		Parser:      w.nomad,
		Selector:    s.selector,
		Vars:        s.vars,
		Namespace:   ns,
		Parallel:    c.parallel,
		CallTimeout: c.callTimeout,
		Progress:    progress.Touch,
		Source:      s.name,
	}
}

// manySources is the cycle's source and loader with many sources, and the
// rollout manager's last good specs, each read from its own source's repo.
func (w *wiring) manySources(c *config, progress *cycle.Progress) (*cycle.Sources, rollout.Specs) {
	list := make([]cycle.NamedSource, len(w.sources))
	specs := sourceSpecs{}
	for i, s := range w.sources {
		loader := s.loader(w, c, progress)
		list[i] = cycle.NamedSource{
			Name: s.name, Repo: s.key, Loader: loader, Prune: s.prune,
			Source: cycle.SourceFunc(func(ctx context.Context) (jobs.Tree, error) {
				snap, err := s.repo.Fetch(ctx)
				if err != nil {
					return nil, err
				}
				return snap, nil
			}),
		}
		specs[s.name] = func(ctx context.Context, commit, path string) (*jobs.File, error) {
			snap, err := s.repo.SnapshotAt(ctx, commit)
			if err != nil {
				return nil, err
			}
			return loader.LoadFile(ctx, snap, path)
		}
	}
	return cycle.NewSources(list, w.log), specs
}

func (w *wiring) sourceNames() string {
	names := make([]string, len(w.sources))
	for i, s := range w.sources {
		names[i] = s.name
	}
	return strings.Join(names, ",")
}

// refName is the single source's ref for the webhooks; nil with many.
func (w *wiring) refName() func() string {
	if w.repo == nil {
		return nil
	}
	return w.repo.RefName
}

// webhookSources are the sources a push is matched against; nil with one.
func (w *wiring) webhookSources() []agent.WebhookSource {
	if w.sources == nil {
		return nil
	}
	out := make([]agent.WebhookSource, len(w.sources))
	for i, s := range w.sources {
		out[i] = agent.WebhookSource{Name: s.name, URL: s.repo.URL(), RefName: s.repo.RefName}
	}
	return out
}

// sourceSpecs reads a last good spec from the source that registered it.
type sourceSpecs map[string]rollout.SpecsFunc

// JobAt is a spec recorded before there were sources: no source can say
// which repo it is in.
func (s sourceSpecs) JobAt(_ context.Context, commit, path string) (*jobs.File, error) {
	return nil, fmt.Errorf("%s at %s was recorded without a source; cannot tell which repo to read it from", path, commit)
}

// JobFrom reads path at commit in the named source.
func (s sourceSpecs) JobFrom(ctx context.Context, name, commit, path string) (*jobs.File, error) {
	at, ok := s[name]
	if !ok {
		return nil, fmt.Errorf("source %q is not in the config any more", name)
	}
	return at(ctx, commit, path)
}
