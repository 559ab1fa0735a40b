package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/source"
	dsync "github.com/drover-dev/drover/sync"
)

// config is every setting of every command; each command registers the
// groups it uses.
type config struct {
	repo, ref, dir, dataDir string
	auth                    source.Auth
	gitTimeout              time.Duration

	paths, include, exclude, varFiles, vars []string

	instance    string
	parallel    int
	prune       bool
	callTimeout time.Duration

	logFormat, logLevel string

	json  bool
	color string

	interval time.Duration
	schedule string
	dryRun   bool
	listen   string
	watch    bool
}

func defaultDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "drover")
	}
	return filepath.Join(os.TempDir(), "drover")
}

func (c *config) sourceFlags(f *flagSet, withDir bool) {
	g := f.group("Git source")
	f.String(g, &c.repo, "repo", "", "Git repository to follow: https://…, ssh://…, git@host:path, file://… or a local path.")
	f.String(g, &c.ref, "ref", "", "Branch, tag or full commit SHA to follow. Empty: the remote's default branch.")
	if withDir {
		f.String(g, &c.dir, "dir", "", "Read job files from this local directory instead of git (no --repo).")
	}
	f.String(g, &c.dataDir, "data-dir", defaultDataDir(), "Where the clone is kept between runs.")
	f.String(g, &c.auth.Username, "git-username", "", "HTTPS username for --git-token (default \"git\").")
	f.String(g, &c.auth.Token, "git-token", "", "HTTPS token. Never logged.")
	f.String(g, &c.auth.SSHKeyPath, "ssh-key", "", "SSH private key file for ssh:// and git@ URLs.")
	f.String(g, &c.auth.SSHKeyPassphrase, "ssh-key-passphrase", "", "Passphrase of --ssh-key. Never logged.")
	f.String(g, &c.auth.SSHKnownHostsPath, "ssh-known-hosts", "", "known_hosts file to check the SSH host key against (required for SSH).")
	f.Bool(g, &c.auth.InsecureSkipHostKey, "ssh-insecure-skip-host-key", false, "Do not check the SSH host key. Logs a warning; for testing only.")
	f.Duration(g, &c.gitTimeout, "git-timeout", 2*time.Minute, "Deadline of one clone or fetch.")
}

func (c *config) jobFlags(f *flagSet) {
	g := f.group("Job files")
	f.List(g, &c.paths, "path", "repo root", "Directory in the repo to search for job files. Repeatable.")
	f.List(g, &c.include, "include", strings.Join(jobs.DefaultInclude, ","), "Glob (with **) of job files, relative to each --path. Repeatable.")
	f.List(g, &c.exclude, "exclude", "", "Glob of files to skip. Repeatable.")
	f.List(g, &c.varFiles, "var-file", "", "HCL2 variables file, a path in the repo. Repeatable; later files win.")
	f.List(g, &c.vars, "var", "", "HCL2 variable as key=value; wins over --var-file. Repeatable.")
}

func (c *config) syncFlags(f *flagSet) {
	g := f.group("Sync")
	f.String(g, &c.instance, "instance", dsync.DefaultInstance, "Name of this drover, recorded on every job it registers (meta drover.instance).\nPrune only ever touches jobs of the same instance.")
	f.Int(g, &c.parallel, "parallel", 4, "Jobs planned and applied at once.")
	f.Bool(g, &c.prune, "prune", false, "Stop (not purge) jobs drover registered whose file is gone from git.\nWithout it they are only reported.")
	f.Duration(g, &c.callTimeout, "nomad-timeout", time.Minute, "Deadline of one Nomad API call.")
}

func (c *config) logFlags(f *flagSet, level string) {
	g := f.group("Logging")
	f.String(g, &c.logFormat, "log-format", "json", "json (one event per line) or console.")
	f.String(g, &c.logLevel, "log-level", level, "debug, info, warn or error.")
}

func (c *config) planFlags(f *flagSet) {
	g := f.group("Output")
	f.Bool(g, &c.json, "json", false, "Print the plan as JSON.")
	f.String(g, &c.color, "color", "auto", "Colour the diff: auto (on a terminal), always or never.")
}

func (c *config) agentFlags(f *flagSet) {
	g := f.group("Agent")
	f.Duration(g, &c.interval, "interval", time.Minute, "Time between syncs. Ignored when --schedule is set.")
	f.String(g, &c.schedule, "schedule", "", "Cron expression for syncs instead of --interval, e.g. \"*/5 * * * *\" or \"@every 30s\".")
	f.Bool(g, &c.dryRun, "dry-run", false, "Detect and report only; never register or stop a job.")
	f.String(g, &c.listen, "listen", "127.0.0.1:8680", "HTTP address for /healthz, /v1/status and POST /v1/sync.")
	f.Bool(g, &c.watch, "watch-cluster", true, "Watch the cluster's jobs (blocking queries) and sync as soon as one drover\nmanages changes, instead of waiting for --interval / --schedule.")
}

// validate checks what flags alone can tell.
func (c *config) validate() error {
	switch {
	case c.repo == "" && c.dir == "":
		return fmt.Errorf("--repo (or DROVER_REPO) is required")
	case c.repo != "" && c.dir != "":
		return fmt.Errorf("--repo and --dir are exclusive: choose git or a local directory")
	case c.dir != "" && c.ref != "":
		return fmt.Errorf("--ref needs --repo; --dir reads the directory as it is")
	case c.parallel < 1:
		return fmt.Errorf("--parallel must be at least 1, got %d", c.parallel)
	case c.color != "" && c.color != "auto" && c.color != "always" && c.color != "never":
		return fmt.Errorf("--color must be auto, always or never, got %q", c.color)
	}
	if _, err := c.variables(); err != nil {
		return err
	}
	return c.selector().Validate()
}

func (c *config) selector() jobs.Selector {
	return jobs.Selector{Dirs: c.paths, Include: c.include, Exclude: c.exclude}
}

func (c *config) variables() (jobs.Variables, error) {
	v := jobs.Variables{Files: c.varFiles}
	for _, kv := range c.vars {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return v, fmt.Errorf("--var %q: want key=value", kv)
		}
		if v.Flags == nil {
			v.Flags = map[string]string{}
		}
		v.Flags[k] = val
	}
	return v, nil
}
