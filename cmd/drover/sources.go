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

// sourceRepo is a source with the repo it is read from. Sources of the
// same repo and ref share one *source.Repo: one fetch.
type sourceRepo struct {
	sourceConfig
	// repo is nil for a local directory (--dir).
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
		if s.dir != "" {
			out = append(out, &sourceRepo{sourceConfig: s, key: "dir\x00" + s.dir})
			continue
		}
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
			if err != nil && s.name != "" {
				err = fmt.Errorf("source %q: %w", s.name, err)
			}
			if err != nil {
				return nil, err
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

// followed are the cycle's sources, and the rollout manager's last good
// specs, each read from its own source's repo; nil specs when no source has
// git history (--dir).
func (w *wiring) followed(c *config, progress *cycle.Progress) ([]cycle.NamedSource, rollout.Specs) {
	list := make([]cycle.NamedSource, len(w.sources))
	specs := sourceSpecs{}
	for i, s := range w.sources {
		loader := s.loader(w, c, progress)
		list[i] = cycle.NamedSource{Name: s.name, Repo: s.key, Loader: loader, Prune: s.prune, Source: s.fetcher()}
		if s.repo == nil {
			continue
		}
		specs[s.name] = func(ctx context.Context, commit, path string) (*jobs.File, error) {
			snap, err := s.repo.SnapshotAt(ctx, commit)
			if err != nil {
				return nil, err
			}
			return loader.LoadFile(ctx, snap, path)
		}
	}
	if len(specs) == 0 {
		return list, nil
	}
	return list, specs
}

// fetcher is the followed ref's newest commit, or the local directory.
func (s *sourceRepo) fetcher() cycle.Source {
	if s.repo == nil {
		return cycle.SourceFunc(func(context.Context) (jobs.Tree, error) {
			d, err := source.Dir(s.dir)
			if err != nil {
				return nil, err
			}
			return d, nil
		})
	}
	return cycle.SourceFunc(func(ctx context.Context) (jobs.Tree, error) {
		snap, err := s.repo.Fetch(ctx)
		if err != nil {
			return nil, err
		}
		return snap, nil
	})
}

// single is the flags' source, nil with --config.
func (w *wiring) single() *sourceRepo {
	if len(w.sources) == 1 && w.sources[0].name == "" {
		return w.sources[0]
	}
	return nil
}

func (w *wiring) sourceNames() string {
	names := make([]string, len(w.sources))
	for i, s := range w.sources {
		names[i] = s.name
	}
	return strings.Join(names, ",")
}

// refName is the flags' source's ref for the webhooks; nil with --config.
func (w *wiring) refName() func() string {
	if s := w.single(); s != nil && s.repo != nil {
		return s.repo.RefName
	}
	return nil
}

// webhookSources are the sources a push is matched against; nil without
// --config, where refName alone decides.
func (w *wiring) webhookSources() []agent.WebhookSource {
	if w.single() != nil {
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

// JobAt is a spec recorded without a source: the flags' source's (which
// has no name), or one recorded before there were sources, where no source
// can say which repo it is in.
func (s sourceSpecs) JobAt(ctx context.Context, commit, path string) (*jobs.File, error) {
	if at, ok := s[""]; ok {
		return at(ctx, commit, path)
	}
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
