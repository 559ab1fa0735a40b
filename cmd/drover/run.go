package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/drover-dev/drover/agent"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/nomad"
	"github.com/drover-dev/drover/source"
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
  drover agent   [flags]   Sync continuously: every --interval or --schedule, and on POST /v1/sync.
  drover version           Print the version.

Run "drover COMMAND --help" for the flags of one command.

Nomad and Consul are configured the standard way: NOMAD_ADDR, NOMAD_TOKEN, NOMAD_REGION,
NOMAD_NAMESPACE (default namespace of jobs that set none), NOMAD_CACERT, NOMAD_CLIENT_CERT,
NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME, NOMAD_SKIP_VERIFY; CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN….
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
				c.planFlags(f)
				c.logFlags(f, "warn")
			}, runPlan},
		{"apply", "Register every job that differs from git, with check-index so a concurrent\nedit is refused, never overwritten. Exit 0 only if everything applied.",
			func(c *config, f *flagSet) {
				c.sourceFlags(f, true)
				c.jobFlags(f)
				c.syncFlags(f)
				c.logFlags(f, "info")
			}, runApply},
		{"agent", "Sync continuously. Serves GET /healthz, GET /v1/status and POST /v1/sync on --listen.",
			func(c *config, f *flagSet) {
				c.sourceFlags(f, false)
				c.jobFlags(f)
				c.syncFlags(f)
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
	repo   *source.Repo
	loader *jobs.Loader
}

func wire(ctx context.Context, c *config, stderr io.Writer) (*wiring, error) {
	log, err := newLogger(c, stderr)
	if err != nil {
		return nil, err
	}
	nc, err := nomad.New()
	if err != nil {
		return nil, err
	}
	vars, _ := c.variables() // validated already
	w := &wiring{
		log:   log,
		nomad: nc,
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

// once runs one cycle for plan and apply.
func once(ctx context.Context, c *config, stderr io.Writer, apply bool) (*dsync.Report, error) {
	w, err := wire(ctx, c, stderr)
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
	return w.engine(c, apply).Sync(ctx, set)
}

func runPlan(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	report, err := once(ctx, c, stderr, false)
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
	report, err := once(ctx, c, stderr, true)
	if err != nil {
		fmt.Fprintf(stderr, "drover apply: %v\n", err)
		return exitError
	}
	dsync.WriteText(stdout, report, useColor("auto", stdout))
	if report.Failed() {
		return exitError
	}
	return exitOK
}

func runAgent(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	w, err := wire(ctx, c, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "drover agent: %v\n", err)
		return exitError
	}
	describe := map[string]string{"instance": c.instance, "repo": w.repo.URL(), "ref": c.ref, "version": version}
	if c.dryRun {
		describe["mode"] = "dry-run"
	}
	var watch agent.JobWatcher
	if c.watch {
		watch = w.nomad
	}
	a, err := agent.New(
		agent.SourceFunc(func(ctx context.Context) (jobs.Tree, error) { return w.fetch(ctx, c) }),
		w.loader, w.engine(c, !c.dryRun),
		agent.Options{
			Interval:     c.interval,
			Schedule:     c.schedule,
			Listen:       c.listen,
			FetchTimeout: c.gitTimeout,
			Watch:        watch,
			Describe:     describe,
			Logger:       w.log,
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
