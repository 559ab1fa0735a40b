package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/drover-dev/drover/consul"
	"github.com/drover-dev/drover/events"
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
		Consul: &preflight.ConsulCheck{API: cc, Addr: consul.Address(), Prefix: c.stateKeyPrefix(), HA: c.ha},
		HTTP:   &preflight.HTTPCheck{Listen: c.listen, APIToken: c.apiToken != "", WebhookSecret: c.webhookSecret != ""},
	}
	srcs := c.sources // validate made the flags' one source when there is no --config
	namespaces := map[string]bool{}
	var gits []*preflight.GitCheck
	for i, s := range srcs {
		ns := sourceNamespace(s, parseNS)
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

// sourceNamespace is where the jobs of s that name no namespace go: its
// own, else NOMAD_NAMESPACE's (parseNS), else Nomad's default.
func sourceNamespace(s sourceConfig, parseNS string) string {
	switch {
	case s.namespace != "":
		return s.namespace
	case parseNS != "":
		return parseNS
	}
	return "default"
}

// startCheckTimeout bounds the checks the agent runs at start.
const startCheckTimeout = 10 * time.Second

// startChecks runs the checks that need no fetch at the agent's start:
// each failure is logged once with its fix, and a fatal one (a wrong CA)
// stops the start with a clear error instead of an agent failing every
// call. The namespaces are those the sources name: the cycle loads the
// jobs, and a refusal there stalls it naming the capability.
func startChecks(ctx context.Context, c *config, w *wiring) error {
	parseNS := os.Getenv("NOMAD_NAMESPACE")
	namespaces := map[string]bool{}
	for _, s := range c.sources {
		namespaces[sourceNamespace(s, parseNS)] = true
	}
	ch := preflight.Checker{
		Nomad:  &preflight.NomadCheck{API: w.nomad, JobNamespaces: slices.Sorted(maps.Keys(namespaces)), ParseNamespace: parseNS},
		Consul: &preflight.ConsulCheck{API: w.consul, Addr: consul.Address(), Prefix: c.stateKeyPrefix(), HA: c.ha},
		HTTP:   &preflight.HTTPCheck{Listen: c.listen, APIToken: c.apiToken != "", WebhookSecret: c.webhookSecret != ""},
	}
	// Bounded tighter than a call: a Nomad or Consul that hangs at start
	// is the cycle's to report, with its budgets, not a reason to wait.
	ctx, cancel := context.WithTimeout(ctx, min(c.callTimeout, startCheckTimeout))
	defer cancel()
	report := ch.Run(ctx)
	for _, f := range report.Failed() {
		w.events.Emit(events.CheckFailed{Check: f.Name, Detail: f.Detail, Fix: f.Fix}, "start-up check failed")
	}
	if f, ok := report.Fatal(); ok {
		return fmt.Errorf("%s: %s; %s", f.Name, f.Detail, f.Fix)
	}
	return nil
}
