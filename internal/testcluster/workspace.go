package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// workspace is what a Cluster and a lone Consul resolve from Options
// alike: where the agents work and log, and how long they get to be ready.
type workspace struct {
	dir          string
	removeDir    bool // dir was ours to create, so stopping for good removes it
	logOutput    io.Writer
	readyTimeout time.Duration
}

// newWorkspace resolves opts' Dir, LogOutput and ReadyTimeout. An empty
// Dir becomes a new temporary directory named after tempPattern.
func newWorkspace(opts Options, tempPattern string) (workspace, error) {
	w := workspace{dir: opts.Dir, readyTimeout: opts.ReadyTimeout}
	if w.readyTimeout <= 0 {
		w.readyTimeout = 90 * time.Second
	}
	if opts.LogOutput != nil {
		w.logOutput = &syncWriter{w: opts.LogOutput}
	}
	var err error
	if w.dir == "" {
		if w.dir, err = os.MkdirTemp("", tempPattern); err != nil {
			return workspace{}, err
		}
		w.removeDir = true
	} else if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return workspace{}, err
	}
	// Nomad resolves data_dir relative to its own working directory; an
	// absolute path keeps the config valid wherever it is read from.
	if w.dir, err = filepath.Abs(w.dir); err != nil {
		return workspace{}, err
	}
	return w, nil
}

// startAttempts bounds retries when another process took one of the picked
// ports between our check and the agent's bind.
const startAttempts = 3

// startRetrying runs start, and after a failure stop, again while the
// failure was a lost port race that new ports fix: up to startAttempts
// times, and never with a fixed port, which a retry cannot change. When it
// gives up it removes the directory if it was ours.
func (w workspace) startRetrying(ctx context.Context, portFixed bool, start func(context.Context) error, stop func()) error {
	for attempt := 1; ; attempt++ {
		err := start(ctx)
		if err == nil {
			return nil
		}
		stop()
		retry := attempt < startAttempts && errors.Is(err, errPortTaken) && !portFixed && ctx.Err() == nil
		if !retry {
			if w.removeDir {
				os.RemoveAll(w.dir)
			}
			return fmt.Errorf("testcluster: %w", err)
		}
	}
}

// removeDirIfOurs removes the directory if it was ours to create.
func (w workspace) removeDirIfOurs() error {
	if !w.removeDir {
		return nil
	}
	if err := os.RemoveAll(w.dir); err != nil {
		return fmt.Errorf("remove %s: %w", w.dir, err)
	}
	return nil
}

// logTails returns the end of each agent's log, for a failed test's
// output; agents never started (nil) are left out.
func logTails(procs ...*process) string {
	var b strings.Builder
	for _, p := range procs {
		if p != nil {
			fmt.Fprintf(&b, "--- %s log (tail) ---\n%s\n", p.name, p.tail())
		}
	}
	return b.String()
}
