package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/drover-dev/drover/agent"
	"github.com/drover-dev/drover/consul"
	"github.com/drover-dev/drover/control"
	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/health"
	"github.com/drover-dev/drover/metrics"
	"github.com/drover-dev/drover/nomad"
	"github.com/drover-dev/drover/reconcile"
	"github.com/drover-dev/drover/rollout"
	"github.com/drover-dev/drover/state"
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
                           metrics on GET /metrics. Replicas of one --instance elect a leader through
                           Consul (--ha): one acts, the others stand by and take over.
  drover suspend [JOB…] [flags]
                           Stop applying (and rolling back) the jobs, or with no JOB the whole instance, until
                           resumed: they are still planned and reported. JOB is name or namespace/name.
                           Kept in Consul (<state-prefix>suspend): takes the agent's flags, needs no agent.
  drover resume  [JOB…] [flags]
                           Lift those suspensions (no JOB: the instance's).
  drover check   [flags]   Check, changing nothing, that the agent with these flags can work: Nomad and Consul
                           reachable, each token capability drover needs in each namespace its jobs use, the
                           git remote, credentials and ref, the HTTP surface. One line per check with the fix;
                           exit 0 only when all pass.
  drover version           Print the version.

Run "drover COMMAND --help" for the flags of one command.

Many sources: --config FILE (plan, apply, agent) follows every source block of an HCL file
instead of --repo and the other source flags; each attribute is the flag of the same name,
for that source only, and secrets are named, never written:
  source "NAME" {                      # a-z 0-9 - _; stamped on its jobs as meta drover.source
    repo      = "https://…"            # required
    ref       = "main"
    path      = ["jobs"]               # include = […], exclude = […]
    var_file  = ["prod.vars.hcl"]
    var       = { region = "eu" }
    namespace = "platform"             # for jobs that set none (else NOMAD_NAMESPACE)
    prune     = true                   # default --prune
    github_repo = "acme/web"           # or gitlab_project: where --status sets its
                                       # commits' statuses (default: from repo)
    git_username = "deploy"            # git_token_env = "VAR" or git_token_file = "/path"
    ssh_key = "/path"                  # ssh_known_hosts, ssh_insecure_skip_host_key,
  }                                    # ssh_key_passphrase_env or ssh_key_passphrase_file

Nomad and Consul are configured the standard way: NOMAD_ADDR, NOMAD_TOKEN, NOMAD_REGION,
NOMAD_NAMESPACE (default namespace of jobs that set none), NOMAD_CACERT, NOMAD_CLIENT_CERT,
NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME, NOMAD_SKIP_VERIFY; CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN….
Consul holds drover's rollout state (--state-prefix) and the health checks rollouts are judged by.
`

type command struct {
	name string
	// args names the arguments the command takes after its name, ""
	// when it takes none.
	args    string
	summary string
	flags   func(c *config, f *flagSet)
	run     func(ctx context.Context, c *config, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"plan", "", "Plan every job against the cluster and print the differences.\nExit 0 when in sync, 2 when changes are pending, 1 on any error.",
			func(c *config, f *flagSet) {
				c.cycleFlags(f, true)
				c.planFlags(f)
				c.commentFlags(f)
				c.forgeFlags(f)
				c.logFlags(f, "warn")
			}, runPlan},
		{"apply", "", "Register every job that differs from git, with check-index so a concurrent\nedit is refused, never overwritten. Exit 0 only if everything applied.",
			func(c *config, f *flagSet) {
				c.cycleFlags(f, true)
				c.rolloutFlags(f, true)
				c.controlFlags(f)
				c.logFlags(f, "info")
			}, runApply},
		{"agent", "", "Sync continuously, watch every rollout and roll back failed ones. Serves on --listen: the web page at / (--ui), GET /healthz, GET /v1/status, GET /v1/events, GET /metrics (Prometheus),\nPOST /v1/sync (bearer --api-token when set), and push webhooks POST /webhook/github and\nPOST /webhook/gitlab (authenticated with --webhook-secret; refused without it).",
			func(c *config, f *flagSet) {
				c.cycleFlags(f, false)
				c.rolloutFlags(f, false)
				c.agentFlags(f)
				c.controlFlags(f)
				c.feedbackFlags(f)
				c.forgeFlags(f)
				c.logFlags(f, "info")
			}, runAgent},
		{"check", "", "Check, without changing anything, that the agent given the same flags can work: Nomad\nreachable, its version, the token and each capability drover needs in each namespace\nthe repository's jobs use; Consul reachable, KV write and check-and-set on\n--state-prefix, sessions (--ha), service and node read; the git remote, credentials\nand ref; the HTTP surface. One line per check, ✓ or ✗, with the fix. Exit 0 only\nwhen every check passes.",
			checkFlags, runCheck},
		{"suspend", "[JOB…]", "Suspend the jobs (name or namespace/name), or with no JOB the whole instance: they are\nplanned and reported, drift included, but nothing is applied or rolled back (see\n--rollback-while-suspended) until resumed. Written to Consul at <state-prefix>suspend;\nthe agent's leader acts on it at once. Takes every agent flag, so one flag set serves all.",
			func(c *config, f *flagSet) {
				agentFlagSet(c, f)
				c.operatorFlags(f, true)
			}, runSuspend},
		{"resume", "[JOB…]", "Lift the suspensions of the jobs, or with no JOB the instance's (a job suspended on its\nown stays so until resumed by name).",
			func(c *config, f *flagSet) {
				agentFlagSet(c, f)
				c.operatorFlags(f, false)
			}, runResume},
	}
}

// agentFlagSet is every flag of the agent, for the commands that accept
// them so a script can pass one flag set to all (suspend, resume).
func agentFlagSet(c *config, f *flagSet) {
	for _, cmd := range commands() {
		if cmd.name == "agent" {
			cmd.flags(c, f)
		}
	}
	c.noSource = true
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, overview)
		agentGroups := map[string]bool{}
		for _, cmd := range commands() {
			f := newFlagSet(cmd.name)
			cmd.flags(&config{}, f)
			if cmd.name == "agent" {
				for _, g := range f.groups {
					agentGroups[g.title] = true
				}
			}
			if cmd.args == "" {
				fmt.Fprintf(stdout, "\nFlags of drover %s:\n", cmd.name)
				f.usage(stdout)
				continue
			}
			// suspend and resume take the agent's flags: say only
			// what they add.
			fmt.Fprintf(stdout, "\nFlags of drover %s: those of drover agent, and\n", cmd.name)
			own := *f
			own.groups = nil
			for _, g := range f.groups {
				if !agentGroups[g.title] {
					own.groups = append(own.groups, g)
				}
			}
			own.usage(stdout)
		}
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintf(stdout, "drover %s\n", buildVersion())
		return exitOK
	}
	for _, cmd := range commands() {
		if cmd.name != args[0] {
			continue
		}
		var c config
		f := newFlagSet(cmd.name)
		cmd.flags(&c, f)
		if err := cmd.parse(&c, f, args[1:], getenv); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(stdout, "Usage: drover %s %s[flags]\n\n%s\n", cmd.name, argsUsage(cmd.args), cmd.summary)
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
		c.readTokens(getenv)
		c.setFlags, c.getenv = f.setNames(getenv), getenv
		if err := c.validate(); err != nil {
			fmt.Fprintf(stderr, "drover %s: %v\n", cmd.name, err)
			return exitError
		}
		return cmd.run(ctx, &c, stdout, stderr)
	}
	fmt.Fprintf(stderr, "drover: unknown command %q\nRun \"drover --help\" for usage.\n", args[0])
	return exitError
}

// parse applies the environment and args to c. The arguments of a command
// that takes some (suspend, resume: jobs) may come before, between or
// after the flags: the flag package stops at the first argument, so
// parsing goes on after it.
func (cmd command) parse(c *config, f *flagSet, args []string, getenv func(string) string) error {
	err := f.parse(args, getenv)
	for cmd.args != "" && err == nil && f.fs.NArg() > 0 {
		c.control.jobs = append(c.control.jobs, f.fs.Arg(0))
		err = f.fs.Parse(f.fs.Args()[1:])
	}
	return err
}

func argsUsage(args string) string {
	if args == "" {
		return ""
	}
	return args + " "
}

// wiring is the clients every command builds from its config.
type wiring struct {
	log zerolog.Logger
	// events writes every event to log and to the agent's bus.
	events *events.Emitter
	nomad  *nomad.Client
	consul *consul.Client
	// sources are the config file's (--config), or the flags' one.
	sources []*sourceRepo
}

// role says what a command needs of its runner.
type role struct {
	// apply registers; without it the engine only plans.
	apply bool
	// resume picks up the rollout watches a previous agent left in flight.
	resume bool
	// trigger asks for the cycle that applies a rollback; nil leaves it to
	// the runner (apply --wait runs it in Settle).
	trigger func(reason string)
	metrics *metrics.Metrics
	// state is where the rollout state is kept; nil is Consul's KV,
	// unfenced.
	state state.KV
	// allowed, when set, is asked right before every Nomad write.
	allowed func() bool
	// controls are the suspensions and windows; nil builds them.
	controls *control.Controls
	// unplanned registers new jobs without planning them first (the
	// agent: nothing prints their plan).
	unplanned bool
	// recordOnly records rollouts for the agent without watching them
	// (`apply` without --wait).
	recordOnly bool
}

// wire builds the clients; bus, when set, is given every event too.
func wire(ctx context.Context, c *config, stderr io.Writer, m *metrics.Metrics, bus *events.Bus) (*wiring, error) {
	log, err := newLogger(c, stderr)
	if err != nil {
		return nil, err
	}
	var nomadOpts []nomad.Option
	if m != nil {
		nomadOpts = append(nomadOpts, nomad.WithTransport(m.NomadTransport))
	}
	nc, err := c.nomadClient(nomadOpts...)
	if err != nil {
		return nil, err
	}
	cc, err := c.consulClient()
	if err != nil {
		return nil, err
	}
	w := &wiring{log: log, events: events.NewEmitter(log, bus), nomad: nc, consul: cc}
	if w.sources, err = openSources(ctx, c, w.events); err != nil {
		return nil, err
	}
	return w, nil
}

// runner builds a cycle runner and its rollout manager, whose watches run
// under ctx and stop with the runner's Close.
func (w *wiring) runner(ctx context.Context, c *config, r role) (*cycle.Runner, *rollout.Manager) {
	progress := &cycle.Progress{}
	sources, specs := w.followed(c, progress)
	engine := reconcile.New(w.nomad, reconcile.Options{
		Instance:    c.instance,
		Apply:       r.apply,
		Prune:       c.prune,
		ResetCounts: c.resetCounts,
		Parallel:    c.parallel,
		CallTimeout: c.callTimeout,
		Allowed:     r.allowed,
		Progress:    progress.Touch,

		RegisterNewUnplanned: r.unplanned,
		Logger:               w.log,
		Emitter:              w.events,
	})
	var runner *cycle.Runner
	trigger := r.trigger
	if trigger == nil {
		trigger = func(reason string) { runner.Request(reason) }
	}
	parts := cycle.Parts{Sources: sources, Engine: engine, Progress: progress}
	rollouts := w.newRollouts(ctx, c, specs, trigger, r)
	parts.Rollouts = rollouts
	controls := r.controls
	if controls == nil {
		controls = w.controls(c, r.metrics)
	}
	parts.Controls = controls
	runner = cycle.New(parts,
		cycle.Options{
			GitTimeout:    c.gitTimeout,
			NomadTimeout:  c.callTimeout,
			ConsulTimeout: c.consulTimeout,
			StateOptional: !r.apply,
			Metrics:       r.metrics,
			Logger:        w.log,
			Emitter:       w.events,
		})
	return runner, rollouts
}

// newRollouts builds the rollout manager over Consul's KV and checks.
func (w *wiring) newRollouts(ctx context.Context, c *config, specs rollout.Specs, trigger func(string), r role) *rollout.Manager {
	var rec rollout.Recorder
	if r.metrics != nil {
		rec = r.metrics
	}
	kv := r.state
	if kv == nil {
		kv = w.consul
	}
	return rollout.New(ctx,
		state.NewLedger(kv, c.stateKeyPrefix(), state.LedgerOptions{CallTimeout: c.consulTimeout, OnConflict: rollout.ConflictEvents(w.events)}),
		health.NewWatcher(ctx, w.nomad, w.consul, health.WatcherOptions{CallTimeout: c.consulTimeout}),
		w.nomad, specs,
		rollout.Options{
			Policy: c.policy, NoRollback: c.noRollback, Trigger: trigger, Resume: r.resume, RecordOnly: r.recordOnly,
			Recorder: rec, NomadTimeout: c.callTimeout, Logger: w.log, Emitter: w.events,
		})
}

func runPlan(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	w, err := wire(ctx, c, stderr, nil, nil)
	if err != nil {
		fmt.Fprintf(stderr, "drover plan: %v\n", err)
		return exitError
	}
	runner, _ := w.runner(ctx, c, role{})
	defer runner.Close()
	report, f := runner.Run(ctx)
	if f != nil {
		fmt.Fprintf(stderr, "drover plan: %s: %v\n", f.Step, f)
		return exitError
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(report)
	} else {
		reconcile.WriteText(stdout, report, useColor(c.color, stdout))
	}
	if c.forge.comment != "" {
		if err := postPlanComment(ctx, c, report, stderr); err != nil {
			fmt.Fprintf(stderr, "drover plan: comment: %v\n", err)
			return exitError
		}
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
	w, err := wire(ctx, c, stderr, nil, nil)
	if err != nil {
		fmt.Fprintf(stderr, "drover apply: %v\n", err)
		return exitError
	}
	runner, rollouts := w.runner(ctx, c, role{apply: true, recordOnly: !c.wait})
	defer runner.Close()
	report, f := runner.Run(ctx)
	if report != nil {
		// Printed even when shutdown cut the cycle short: the registers
		// it made happened.
		reconcile.WriteText(stdout, report, useColor("auto", stdout))
	}
	switch {
	case cycle.IsInterrupted(f):
		fmt.Fprintln(stderr, "drover apply: interrupted; registers in flight were finished, no new one started")
		return exitCode(report == nil || report.Failed())
	case f != nil:
		fmt.Fprintf(stderr, "drover apply: %s: %v\n", f.Step, f)
		return exitError
	}
	failed := report.Failed()
	if c.wait {
		if _, f := runner.Settle(ctx); f != nil {
			fmt.Fprintf(stderr, "drover apply: %s: %v\n", f.Step, f)
			return exitError
		}
		failed = printOutcomes(stdout, rollouts.Outcomes()) || failed
	}
	return exitCode(failed)
}

// printOutcomes prints one line per rollout verdict and reports whether
// any failed or ended without a verdict.
func printOutcomes(stdout io.Writer, outcomes []rollout.Outcome) bool {
	bad := false
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
			bad = true
		}
	}
	return bad
}

func exitCode(failed bool) int {
	if failed {
		return exitError
	}
	return exitOK
}

func runAgent(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	m := metrics.New(buildVersion())
	bus := events.NewBus(500)
	w, err := wire(ctx, c, stderr, m, bus)
	if err != nil {
		fmt.Fprintf(stderr, "drover agent: %v\n", err)
		return exitError
	}
	if err := startChecks(ctx, c, w); err != nil {
		fmt.Fprintf(stderr, "drover agent: %v\n", err)
		return exitError
	}
	id := replicaID(os.Getenv)
	// Whether the secrets are set, never what they are.
	describe := map[string]string{
		"instance": c.instance, "version": buildVersion(),
		"webhooks": enabled(c.webhookSecret != ""), "sync_token": enabled(c.apiToken != ""),
		"state_prefix": c.stateKeyPrefix(), "id": id,
	}
	if s := w.single(); s != nil {
		describe["repo"], describe["ref"] = s.repo.URL(), c.ref
	} else {
		describe["config"], describe["sources"] = c.configFile, w.sourceNames()
	}
	if c.dryRun {
		describe["mode"] = "dry-run"
	}
	fb, err := startFeedback(ctx, c, bus, m, w.events)
	if err != nil {
		fmt.Fprintf(stderr, "drover agent: %v\n", err)
		return exitError
	}
	for k, v := range fb {
		describe[k] = v
	}
	// What the web page needs to say when the next sync is and how long
	// a rollout bakes.
	describe["cluster_watch"] = enabled(c.watch)
	describe["bake"] = c.policy.Bake.String()
	if c.schedule != "" {
		describe["schedule"] = c.schedule
	} else {
		describe["interval"] = c.interval.String()
	}
	opts := agent.Options{
		Instance:      c.instance,
		ID:            id,
		Interval:      c.interval,
		Schedule:      c.schedule,
		Listen:        c.listen,
		Describe:      describe,
		Logger:        w.log,
		Emitter:       w.events,
		RefName:       w.refName(),
		Sources:       w.webhookSources(),
		WebhookSecret: c.webhookSecret,
		APIToken:      c.apiToken,
		Metrics:       m,
		Events:        bus,
		UI:            c.ui,
		Pprof:         c.pprof,
		NomadUIURL:    c.nomadUI(os.Getenv),
	}
	if c.watch {
		opts.Watch = w.nomad
	}
	controls := w.controls(c, m)
	opts.Controls = controls
	var a *agent.Agent
	trigger := func(reason string) { a.Trigger(reason) }
	var lead *leadership
	if c.ha {
		if lead, err = w.leadership(c, id); err != nil {
			fmt.Fprintf(stderr, "drover agent: %v\n", err)
			return exitError
		}
		opts.Leadership = lead
		opts.Triggers = w.consul.Triggers(c.stateKeyPrefix()+"trigger", c.consulTimeout)
		opts.NoLeaderAfter = 2*c.leaderTTL + time.Minute
	}
	newTerm := func(ctx context.Context, t agent.Term) (agent.Cycles, agent.RolloutStatus, error) {
		r := role{apply: !c.dryRun, resume: true, metrics: m, trigger: trigger, controls: controls, unplanned: true}
		if lead != nil {
			// Every state write is refused by Consul once this replica
			// no longer holds the lock; every Nomad write is checked
			// against the lease right before it is made.
			r.state, r.allowed = lead.fenced(w.consul, t), t.Valid
		}
		runner, rollouts := w.runner(ctx, c, r)
		return runner, rollouts, nil
	}
	a, err = agent.New(newTerm, opts)
	if err != nil {
		fmt.Fprintf(stderr, "drover agent: %v\n", err)
		return exitError
	}
	if err := a.Run(ctx); err != nil {
		w.events.Emit(events.AgentError{Error: err.Error()}, "agent stopped")
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
