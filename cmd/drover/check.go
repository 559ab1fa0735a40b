package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/nomad"
	"github.com/drover-dev/drover/preflight"
	"github.com/drover-dev/drover/source"
	"github.com/rs/zerolog"
)

// checkFlags are the agent's flags, so `drover check` takes the agent's
// command line as it is, and --output.
func checkFlags(c *config, f *flagSet) {
	for _, cmd := range commands() {
		if cmd.name == "agent" {
			cmd.flags(c, f)
		}
	}
	g := f.group("Check")
	f.String(g, &c.checkOutput, "output", "text", "text: one line per check, ✓ or ✗, with the fix; json: the report as JSON.")
}

func runCheck(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	if c.checkOutput != "text" && c.checkOutput != "json" {
		fmt.Fprintf(stderr, "drover check: --output must be text or json, not %q\n", c.checkOutput)
		return exitError
	}
	checker, err := checker(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "drover check: %v\n", err)
		return exitError
	}
	report := checker.Run(ctx)
	if c.checkOutput == "json" {
		if err := preflight.WriteJSON(stdout, report); err != nil {
			fmt.Fprintf(stderr, "drover check: %v\n", err)
			return exitError
		}
	} else {
		preflight.WriteText(stdout, report)
	}
	return exitCode(!report.OK)
}

// checker builds the checks from the agent's config: the repository is
// fetched first, since the namespaces its jobs use are where the Nomad
// token's capabilities are checked.
func checker(ctx context.Context, c *config) (*preflight.Checker, error) {
	nc, err := c.nomadClient()
	if err != nil {
		return nil, err
	}
	cc, err := c.consulClient()
	if err != nil {
		return nil, err
	}
	parseNS := os.Getenv("NOMAD_NAMESPACE")
	ch := &preflight.Checker{
		Consul: &preflight.ConsulCheck{API: cc, Addr: consulAddr(), Prefix: c.stateKeyPrefix(), HA: c.ha},
		HTTP:   &preflight.HTTPCheck{Listen: c.listen, APIToken: c.apiToken != "", WebhookSecret: c.webhookSecret != ""},
	}
	srcs := c.sources
	if srcs == nil {
		srcs = []sourceConfig{{repo: c.repo, ref: c.ref, auth: c.auth, selector: c.selector(), namespace: ""}}
		srcs[0].vars, _ = c.variables() // validated already
	}
	namespaces := map[string]bool{}
	var gits []*preflight.GitCheck
	for i, s := range srcs {
		ns := s.namespace
		if ns == "" {
			ns = parseNS
		}
		if ns == "" {
			ns = "default"
		}
		namespaces[ns] = true
		dataDir := c.dataDir
		if i > 0 {
			dataDir = filepath.Join(c.dataDir, fmt.Sprintf("source-%d", i))
		}
		found, fetchErr := jobNamespaces(ctx, c, s, dataDir, nc, ns)
		for _, n := range found {
			namespaces[n] = true
		}
		ref := s.ref
		if ref == "" {
			ref = "the default branch"
		}
		gits = append(gits, &preflight.GitCheck{Name: s.name, URL: s.repo, Ref: ref,
			Fetch: func(context.Context) error { return fetchErr }})
	}
	ch.Nomad = &preflight.NomadCheck{API: nc, JobNamespaces: slices.Sorted(maps.Keys(namespaces)), ParseNamespace: parseNS}
	ch.Git = gits
	return ch, nil
}

// jobNamespaces fetches the source and returns the namespaces of the jobs
// that parse, and the fetch's error. A file Nomad will not parse (the
// token may lack parse-job) is left out: the check of parse-job says so.
func jobNamespaces(ctx context.Context, c *config, s sourceConfig, dataDir string, nc *nomad.Client, ns string) ([]string, error) {
	fetchCtx, cancel := context.WithTimeout(ctx, c.gitTimeout)
	defer cancel()
	repo, err := source.Open(fetchCtx, source.Options{URL: s.repo, Ref: s.ref, DataDir: dataDir, Auth: s.auth, Logger: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	snap, err := repo.Fetch(fetchCtx)
	if err != nil {
		return nil, err
	}
	loader := &jobs.Loader{Parser: nc, Selector: s.selector, Vars: s.vars, Namespace: ns, Parallel: c.parallel, CallTimeout: c.callTimeout}
	set, err := loader.Load(ctx, snap)
	if err != nil {
		return nil, nil // the files are not the git check's concern
	}
	var out []string
	for _, f := range set.Files {
		if f.Err == nil {
			out = append(out, f.Key().Namespace)
		}
	}
	return out, nil
}

// consulAddr is where the Consul client goes, for the check's messages.
func consulAddr() string {
	if a := os.Getenv("CONSUL_HTTP_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:8500"
}
