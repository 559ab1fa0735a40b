package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/drover-dev/drover/consul"
	"github.com/drover-dev/drover/control"
	"github.com/drover-dev/drover/metrics"
)

// controlConfig is the settings of suspensions and windows.
type controlConfig struct {
	denyWindows, allowWindows []string
	rollbackWhileSuspended    bool
	rollbackInWindows         bool
	// reason and by are suspend's and resume's; jobs their arguments.
	reason, by string
	jobs       []string
}

func (c *config) controlFlags(f *flagSet) {
	g := f.group("Suspend and windows")
	f.List(g, &c.control.denyWindows, "deny-window", "", "\"CRON DURATION\": nothing new is applied from each activation of the cron spec\n(robfig/cron: 5 fields or @daily…, optional CRON_TZ=Zone) for DURATION, e.g.\n\"CRON_TZ=Europe/Berlin 0 18 * * FRI 62h\" (a weekend freeze). Repeatable.")
	f.List(g, &c.control.allowWindows, "allow-window", "", "\"CRON DURATION\" like --deny-window, the other way round: outside every allow window\nnothing new is applied, e.g. \"CRON_TZ=Europe/Berlin 0 9 * * MON-FRI 8h\". Repeatable.")
	f.Bool(g, &c.control.rollbackWhileSuspended, "rollback-while-suspended", false, "Roll back a failed rollout (put its last good spec back) even while its job or the\ninstance is suspended (drover suspend).")
	f.Bool(g, &c.control.rollbackInWindows, "rollback-in-deny-window", true, "Roll back failed rollouts inside a deny window and outside the allow windows.\nfalse: hold rollbacks there too.")
}

// operatorFlags are suspend's and resume's own.
func (c *config) operatorFlags(f *flagSet, withReason bool) {
	g := f.group("Suspend and resume")
	if withReason {
		f.String(g, &c.control.reason, "reason", "", "Why, shown in /v1/status, on the page and in every held job's reason.")
	}
	f.String(g, &c.control.by, "by", "", "Who, shown with the suspension. Default: $USER@hostname.")
}

// windows parses --deny-window and --allow-window.
func (c *config) windows() (control.Windows, error) {
	var ws control.Windows
	for _, p := range []struct {
		flag  string
		specs []string
		into  *[]control.Window
	}{{"--deny-window", c.control.denyWindows, &ws.Deny}, {"--allow-window", c.control.allowWindows, &ws.Allow}} {
		for _, s := range p.specs {
			w, err := control.ParseWindow(s)
			if err != nil {
				return ws, fmt.Errorf("%s: %w", p.flag, err)
			}
			*p.into = append(*p.into, w)
		}
	}
	return ws, nil
}

// controls builds the suspensions store over Consul and the windows.
func (w *wiring) controls(c *config, m *metrics.Metrics) *control.Controls {
	ws, _ := c.windows() // validated already
	opts := control.Options{
		Windows:                ws,
		RollbackWhileSuspended: c.control.rollbackWhileSuspended,
		HoldRollbacksInWindows: !c.control.rollbackInWindows,
		Namespace:              os.Getenv("NOMAD_NAMESPACE"),
		Logger:                 w.log,
		Emitter:                w.events,
	}
	if m != nil {
		opts.Recorder = m
	}
	return control.New(suspendStore(w.consul, c), w.consul, opts)
}

func suspendStore(cc *consul.Client, c *config) *control.Store {
	return control.NewStore(cc, c.stateKeyPrefix()+"suspend", c.consulTimeout)
}

func runSuspend(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	return operate(ctx, c, stdout, stderr, "suspend", func(ctx context.Context, st *control.Store) (control.Suspensions, error) {
		keys, err := control.ParseJobs(c.control.jobs, os.Getenv("NOMAD_NAMESPACE"))
		if err != nil {
			return control.Suspensions{}, err
		}
		return st.Suspend(ctx, keys, control.Suspension{By: operator(c), At: time.Now().UTC(), Reason: c.control.reason})
	})
}

func runResume(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	return operate(ctx, c, stdout, stderr, "resume", func(ctx context.Context, st *control.Store) (control.Suspensions, error) {
		keys, err := control.ParseJobs(c.control.jobs, os.Getenv("NOMAD_NAMESPACE"))
		if err != nil {
			return control.Suspensions{}, err
		}
		return st.Resume(ctx, keys)
	})
}

// operate writes the suspensions straight to Consul (no agent needed: the
// leader watches the key) and prints what is suspended after the write.
func operate(ctx context.Context, c *config, stdout, stderr io.Writer, name string, write func(context.Context, *control.Store) (control.Suspensions, error)) int {
	cc, err := c.consulClient()
	if err != nil {
		fmt.Fprintf(stderr, "drover %s: %v\n", name, err)
		return exitError
	}
	st := suspendStore(cc, c)
	sus, err := write(ctx, st)
	if err != nil {
		// The error names the key (Consul's client says which it read).
		fmt.Fprintf(stderr, "drover %s: %v\n", name, err)
		return exitError
	}
	printSuspensions(stdout, c.instance, sus)
	return exitOK
}

func printSuspensions(w io.Writer, instance string, s control.Suspensions) {
	if s.Empty() {
		fmt.Fprintf(w, "Nothing of instance %q is suspended.\n", instance)
		return
	}
	if s.Instance != nil {
		fmt.Fprintf(w, "Instance %q: %s\n", instance, s.Instance)
	}
	for _, k := range s.Keys() {
		fmt.Fprintf(w, "Job %s: %s\n", k, s.Jobs[k])
	}
}

// operator is --by, or who runs the command, where.
func operator(c *config) string {
	if c.control.by != "" {
		return c.control.by
	}
	name := os.Getenv("USER")
	if u, err := user.Current(); name == "" && err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		return name
	}
	return name + "@" + host
}
