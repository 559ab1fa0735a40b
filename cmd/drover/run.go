package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/drover-dev/drover/agent"
	"github.com/drover-dev/drover/consul"
	"github.com/drover-dev/drover/health"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/metrics"
	"github.com/drover-dev/drover/nomad"
	"github.com/drover-dev/drover/rollout"
	"github.com/drover-dev/drover/source"
	"github.com/drover-dev/drover/state"
	dsync "github.com/drover-dev/drover/sync"
	"github.com/rs/zerolog"
)

// Exit codes of plan and apply.
const (
	exitOK      = 0
	exitError   = 1
	exitPending = 2
)

const overview = `drover keeps a Nomad cluster in sync with a git repository of job files.

Usage:
  drover plan    [flags]   Show what differs between git and the cluster.
                           Exit 0 when in sync, 2 when changes are pending, 1 on any error.
  drover apply   [flags]   Register every job that differs (with check-index); exit 0 only if all applied.
                           With --wait, follow the rollouts, roll back failed ones, exit 1 if any failed.
  drover agent   [flags]   Sync continuously: every --interval or --schedule, on POST /v1/sync, and on
                           push webhooks (POST /webhook/github, /webhook/gitlab). Watches every rollout
                           (Nomad deployment and Consul checks) and puts a job whose rollout failed back
                           on its last good commit. Serves GET /healthz, GET /v1/status and Prometheus
                           metrics on GET /metrics.
  drover version           Print the version.

Run "drover COMMAND --help" for the flags of one command.

Nomad and Consul are configured the standard way: NOMAD_ADDR, NOMAD_TOKEN, NOMAD_REGION,
NOMAD_NAMESPACE (default namespace of jobs that set none), NOMAD_CACERT, NOMAD_CLIENT_CERT,
NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME, NOMAD_SKIP_VERIFY; CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN….
Consul holds drover's rollout state (--state-prefix) and the health checks rollouts are judged by.
`

type command struct {
	name, summary string
	flags         func(c *config, f *flagSet)
	run           func(ctx context.Context, c *config, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"plan", "Plan every job against the cluster and print the differences.\nExit 0 when in sync, 2 when changes are pending, 1 on any error.",
			func(c *config, f *flagSet) {
				c.sourceFlags(f, true)
				c.jobFlags(f)
				c.syncFlags(f)
				c.stateFlags(f)
				c.planFlags(f)
				c.logFlags(f, "warn")
			}, runPlan},
		{"apply", "Register every job that differs from git, with check-index so a concurrent\nedit is refused, never overwritten. Exit 0 only if everything applied.",
			func(c *config, f *flagSet) {
				c.sourceFlags(f, true)
				c.jobFlags(f)
				c.syncFlags(f)
				c.stateFlags(f)
				c.rolloutFlags(f, true)
				c.logFlags(f, "info")
			}, runApply},
		{"agent", "Sync continuously, watch every rollout and roll back failed ones. Serves on --listen: GET /healthz, GET /v1/status, GET /metrics (Prometheus),\nPOST /v1/sync (bearer --api-token when set), and push webhooks POST /webhook/github and\nPOST /webhook/gitlab (authenticated with --webhook-secret; refused without it).",
			func(c *config, f *flagSet) {
				c.sourceFlags(f, false)
				c.jobFlags(f)
				c.syncFlags(f)
				c.stateFlags(f)
				c.rolloutFlags(f, false)
				c.agentFlags(f)
				c.logFlags(f, "info")
			}, runAgent},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, overview)
		for _, cmd := range commands() {
			fmt.Fprintf(stdout, "\nFlags of drover %s:\n", cmd.name)
			f := newFlagSet(cmd.name)
			cmd.flags(&config{}, f)
			f.usage(stdout)
		}
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintf(stdout, "drover %s\n", version)
		return exitOK
	}
	for _, cmd := range commands() {
		if cmd.name != args[0] {
			continue
		}
		var c config
		f := newFlagSet(cmd.name)
		cmd.flags(&c, f)
		if err := f.parse(args[1:], getenv); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(stdout, "Usage: drover %s [flags]\n\n%s\n", cmd.name, cmd.summary)
				f.usage(stdout)
				return exitOK
			}
			fmt.Fprintf(stderr, "drover %s: %v\nRun \"drover %s --help\" for usage.\n", cmd.name, err, cmd.name)
			return exitError
		}
		if f.fs.NArg() > 0 {
			fmt.Fprintf(stderr, "drover %s: unexpected argument %q\n", cmd.name, f.fs.Arg(0))
			return exitError
		}
		if err := c.validate(); err != nil {
			fmt.Fprintf(stderr, "drover %s: %v\n", cmd.name, err)
			return exitError
		}
		return cmd.run(ctx, &c, stdout, stderr)
	}
	fmt.Fprintf(stderr, "drover: unknown command %q\nRun \"drover --help\" for usage.\n", args[0])
	return exitError
}

// wiring is what every command builds from its config.
type wiring struct {
	log    zerolog.Logger
	nomad  *nomad.Client
	consul *consul.Client
	repo   *source.Repo
	loader *jobs.Loader
}

// wire builds the clients; m, when not nil, counts every Nomad request.
func wire(ctx context.Context, c *config, stderr io.Writer, m *metrics.Metrics) (*wiring, error) {
	log, err := newLogger(c, stderr)
	if err != nil {
		return nil, err
	}
	var nomadOpts []nomad.Option
	if m != nil {
		nomadOpts = append(nomadOpts, nomad.WithTransport(m.NomadTransport))
	}
	nc, err := nomad.New(nomadOpts...)
	if err != nil {
		return nil, err
	}
	cc, err := consul.New()
	if err != nil {
		return nil, err
	}
	vars, _ := c.variables() // validated already
	w := &wiring{
		log:    log,
		nomad:  nc,
		consul: cc,
		loader: &jobs.Loader{
			Parser:    nc,
			Selector:  c.selector(),
			Vars:      vars,
			Namespace: os.Getenv("NOMAD_NAMESPACE"),
			Parallel:  c.parallel,
		},
	}
	if c.repo != "" {
		openCtx, cancel := context.WithTimeout(ctx, c.gitTimeout)
		defer cancel()
		w.repo, err = source.Open(openCtx, source.Options{
			URL: c.repo, Ref: c.ref, DataDir: c.dataDir, Auth: c.auth, Logger: log,
		})
		if err != nil {
			return nil, err
		}
	}
	return w, nil
}

// fetch returns the tree to sync: the followed ref's newest commit, or the
// local directory.
func (w *wiring) fetch(ctx context.Context, c *config) (jobs.Tree, error) {
	if w.repo == nil {
		d, err := source.Dir(c.dir)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.gitTimeout)
	defer cancel()
	s, err := w.repo.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (w *wiring) engine(c *config, apply bool) *dsync.Engine {
	return dsync.New(w.nomad, dsync.Options{
		Instance:    c.instance,
		Apply:       apply,
		Prune:       c.prune,
		Parallel:    c.parallel,
		CallTimeout: c.callTimeout,
		Logger:      w.log,
	})
}

// rollouts builds the rollout manager over Consul's KV and checks; trigger
// asks for the cycle that applies a rollback.
func (w *wiring) rollouts(c *config, trigger func(string), resume bool, rec rollout.Recorder) *rollout.Manager {
	var specs rollout.Specs
	if w.repo != nil {
		specs = rollout.SpecsFunc(func(ctx context.Context, commit, path string) (*jobs.File, error) {
			snap, err := w.repo.Snapshot(commit)
			if err != nil {
				return nil, err
			}
			return w.loader.LoadFile(ctx, snap, path)
		})
	}
	return rollout.New(
		state.NewLedger(w.consul, c.stateKeyPrefix()),
		health.NewWatcher(w.nomad, w.consul, health.WatcherOptions{}),
		w.nomad, specs,
		rollout.Options{Policy: c.policy, NoRollback: c.noRollback, Trigger: trigger, Resume: resume, Recorder: rec, Logger: w.log})
}

// oneShot is the state of one plan or apply run.
type oneShot struct {
	w        *wiring
	set      *jobs.Set
	rollouts *rollout.Manager
	// rollback is set by a failed rollout that has a last good commit.
	rollback atomic.Bool
}

// prepare fetches, loads and pins the jobs of one plan or apply. Without
// the rollout state an apply could re-apply a quarantined spec, so it
// fails; a plan goes on with a warning.
func prepare(ctx context.Context, c *config, stderr io.Writer, apply bool) (*oneShot, error) {
	w, err := wire(ctx, c, stderr, nil)
	if err != nil {
		return nil, err
	}
	tree, err := w.fetch(ctx, c)
	if err != nil {
		return nil, err
	}
	set, err := w.loader.Load(ctx, tree)
	if err != nil {
		return nil, err
	}
	o := &oneShot{w: w, set: set}
	o.rollouts = w.rollouts(c, func(string) { o.rollback.Store(true) }, false, nil)
	if err := o.rollouts.Prepare(ctx); err != nil {
		if apply {
			return nil, fmt.Errorf("rollout state: %w", err)
		}
		w.log.Warn().Str("event", "state.error").Err(err).Msg("rollout state unreadable; the plan ignores quarantines")
		return o, nil
	}
	o.set = o.rollouts.Pin(ctx, set)
	return o, nil
}

func runPlan(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	o, err := prepare(ctx, c, stderr, false)
	if err != nil {
		fmt.Fprintf(stderr, "drover plan: %v\n", err)
		return exitError
	}
	defer o.rollouts.Close()
	report, err := o.w.engine(c, false).Sync(ctx, o.set)
	if err != nil {
		fmt.Fprintf(stderr, "drover plan: %v\n", err)
		return exitError
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(report)
	} else {
		dsync.WriteText(stdout, report, useColor(c.color, stdout))
	}
	switch {
	case report.Failed():
		return exitError
	case report.Pending():
		return exitPending
	}
	return exitOK
}

func runApply(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	o, err := prepare(ctx, c, stderr, true)
	if err != nil {
		fmt.Fprintf(stderr, "drover apply: %v\n", err)
		return exitError
	}
	defer o.rollouts.Close()
	engine := o.w.engine(c, true)
	report, err := engine.Sync(ctx, o.set)
	if err != nil {
		fmt.Fprintf(stderr, "drover apply: %v\n", err)
		return exitError
	}
	dsync.WriteText(stdout, report, useColor("auto", stdout))
	failed := report.Failed()
	if c.wait {
		ok, err := o.wait(ctx, engine, report, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "drover apply: %v\n", err)
			return exitError
		}
		failed = failed || !ok
	}
	if failed {
		return exitError
	}
	return exitOK
}

// wait follows the rollouts report started; when one fails and has a last
// good commit, it applies and follows the rollback. It prints every verdict
// and reports whether all rollouts were healthy.
func (o *oneShot) wait(ctx context.Context, engine *dsync.Engine, report *dsync.Report, stdout io.Writer) (bool, error) {
	o.rollouts.Record(ctx, report)
	if _, err := o.rollouts.Wait(ctx); err != nil {
		return false, err
	}
	if o.rollback.Load() {
		again, err := engine.Sync(ctx, o.rollouts.Pin(ctx, o.set))
		if err != nil {
			return false, fmt.Errorf("roll back: %w", err)
		}
		o.rollouts.Record(ctx, again)
		if _, err := o.rollouts.Wait(ctx); err != nil {
			return false, err
		}
	}
	outcomes := o.rollouts.Outcomes()
	ok := true
	if len(outcomes) > 0 {
		fmt.Fprintln(stdout, "\nRollouts:")
	}
	for _, oc := range outcomes {
		r := oc.Rollout
		line := fmt.Sprintf("  %s %s commit %.12s version %d: %s", oc.Key, r.Kind, r.Commit, r.Version, r.Phase)
		if r.Reason != "" {
			line += " (" + r.Reason + ")"
		}
		fmt.Fprintln(stdout, line)
		if r.Phase == state.Failed || r.Phase == state.Unknown {
			ok = false
		}
	}
	return ok, nil
}

func runAgent(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	m := metrics.New(version)
	w, err := wire(ctx, c, stderr, m)
	if err != nil {
		fmt.Fprintf(stderr, "drover agent: %v\n", err)
		return exitError
	}
	// Whether the secrets are set, never what they are.
	describe := map[string]string{
		"instance": c.instance, "repo": w.repo.URL(), "ref": c.ref, "version": version,
		"webhooks": enabled(c.webhookSecret != ""), "sync_token": enabled(c.apiToken != ""),
		"state_prefix": c.stateKeyPrefix(),
	}
	// The agent is built after the manager that triggers it.
	var a *agent.Agent
	rollouts := w.rollouts(c, func(reason string) { a.Trigger(reason) }, true, m)
	if c.dryRun {
		describe["mode"] = "dry-run"
	}
	var watch agent.JobWatcher
	if c.watch {
		watch = w.nomad
	}
	a, err = agent.New(
		agent.SourceFunc(func(ctx context.Context) (jobs.Tree, error) { return w.fetch(ctx, c) }),
		w.loader, w.engine(c, !c.dryRun),
		agent.Options{
			Rollouts:      rollouts,
			Interval:      c.interval,
			Schedule:      c.schedule,
			Listen:        c.listen,
			FetchTimeout:  c.gitTimeout,
			Describe:      describe,
			Logger:        w.log,
			RefName:       w.repo.RefName,
			WebhookSecret: c.webhookSecret,
			APIToken:      c.apiToken,
			Metrics:       m,
			Watch:         watch,
		})
	if err != nil {
		fmt.Fprintf(stderr, "drover agent: %v\n", err)
		return exitError
	}
	if err := a.Run(ctx); err != nil {
		w.log.Error().Str("event", "agent.error").Err(err).Msg("agent stopped")
		return exitError
	}
	return exitOK
}

func enabled(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

func newLogger(c *config, stderr io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.logLevel)
	if err != nil || c.logLevel == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	var out io.Writer
	switch c.logFormat {
	case "json":
		out = stderr
	case "console":
		out = zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05"}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format %q: want json or console", c.logFormat)
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger(), nil
}

func useColor(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
