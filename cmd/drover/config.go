package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/drover-dev/drover/agent"
	"github.com/drover-dev/drover/cycle"
	"github.com/drover-dev/drover/health"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/leader"
	"github.com/drover-dev/drover/reconcile"
	"github.com/drover-dev/drover/source"
	"github.com/drover-dev/drover/state"
)

// config is every setting of every command; each command registers the
// groups it uses.
type config struct {
	repo, ref, dir, dataDir string
	auth                    source.Auth
	gitTimeout              time.Duration

	// configFile lists many sources (--config). sources are what it says,
	// or without it the one source the flags make; both set by validate.
	configFile string
	sources    []sourceConfig
	// setFlags are the flags the command line or the environment set.
	setFlags map[string]bool
	// getenv reads the credentials a config file names; nil is os.Getenv.
	getenv func(string) string

	paths, include, exclude, varFiles, vars []string

	instance    string
	parallel    int
	prune       bool
	resetCounts bool
	callTimeout time.Duration

	consulTimeout time.Duration

	logFormat, logLevel string

	json  bool
	color string

	statePrefix string
	policy      health.Policy
	noRollback  bool
	wait        bool

	interval time.Duration
	schedule string
	dryRun   bool
	listen   string

	webhookSecret, apiToken string
	watch                   bool

	ha        bool
	leaderTTL time.Duration
	advertise string

	forge forgeConfig

	ui         bool
	nomadUIURL string

	control controlConfig
	// noSource is set by the commands that touch only Consul (suspend,
	// resume): they accept the agent's flags but need no --repo.
	noSource bool
	pprof    bool

	// nomadTokenFile and consulTokenFile hold the tokens instead of
	// NOMAD_TOKEN and CONSUL_HTTP_TOKEN (--nomad-token-file…).
	nomadTokenFile, consulTokenFile string
	// gitTokenFile holds the HTTPS git token instead of --git-token
	// (--git-token-file).
	gitTokenFile string

	// checkOutput is `drover check`'s --output: text or json.
	checkOutput string
}

func defaultDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "drover")
	}
	return filepath.Join(os.TempDir(), "drover")
}

// cycleFlags are the flag groups of every command that runs cycles (plan,
// apply, agent), in the order help lists them. oneShot is for plan and
// apply: --dir with the source, and --reset-counts.
func (c *config) cycleFlags(f *flagSet, oneShot bool) {
	c.sourceFlags(f, oneShot)
	c.jobFlags(f)
	c.syncFlags(f)
	if oneShot {
		c.resetCountsFlag(f)
	}
	c.stateFlags(f)
	c.clusterFlags(f)
}

func (c *config) sourceFlags(f *flagSet, withDir bool) {
	g := f.group("Git source")
	f.String(g, &c.configFile, "config", "", "HCL file of source blocks: many repos (or paths of one) followed by one drover, each\nwith its own ref, paths, variables, namespace, credentials and prune. Replaces --repo,\n--ref, --path and the other source flags. See docs/guides/many-sources.md.")
	f.String(g, &c.repo, "repo", "", "Git repository to follow: https://…, ssh://…, git@host:path, file://… or a local path.")
	f.String(g, &c.ref, "ref", "", "Branch, tag or full commit SHA to follow. Empty: the remote's default branch.")
	if withDir {
		f.String(g, &c.dir, "dir", "", "Read job files from this local directory instead of git (no --repo).")
	}
	f.String(g, &c.dataDir, "data-dir", defaultDataDir(), "Where the clone is kept between runs.")
	f.String(g, &c.auth.Username, "git-username", "", "HTTPS username for --git-token or --git-token-file (default \"git\").")
	f.String(g, &c.auth.Token, "git-token", "", "HTTPS token. Never logged.")
	f.String(g, &c.gitTokenFile, "git-token-file", "", "File holding the HTTPS token, instead of --git-token: read again whenever it changes,\nso a rotated token is used without a restart. Never logged.")
	f.String(g, &c.auth.SSHKeyPath, "ssh-key", "", "SSH private key file for ssh:// and git@ URLs.")
	f.String(g, &c.auth.SSHKeyPassphrase, "ssh-key-passphrase", "", "Passphrase of --ssh-key. Never logged.")
	f.String(g, &c.auth.SSHKnownHostsPath, "ssh-known-hosts", "", "known_hosts file to check the SSH host key against (required for SSH).")
	f.Bool(g, &c.auth.InsecureSkipHostKey, "ssh-insecure-skip-host-key", false, "Do not check the SSH host key. Logs a warning; for testing only.")
	f.Duration(g, &c.gitTimeout, "git-timeout", cycle.DefaultGitTimeout, "Deadline of one clone or fetch.")
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
	f.String(g, &c.instance, "instance", reconcile.DefaultInstance, "Name of this drover, recorded on every job it registers (meta drover.instance).\nPrune only ever touches jobs of the same instance.")
	f.Int(g, &c.parallel, "parallel", reconcile.DefaultParallel, "Jobs planned and applied at once.")
	f.Bool(g, &c.prune, "prune", false, "Stop (not purge) jobs drover registered whose file is gone from git.\nWithout it they are only reported.")
	f.Duration(g, &c.callTimeout, "nomad-timeout", reconcile.DefaultCallTimeout, "Deadline of one Nomad API call, parsing a job file included. A cycle that makes no\nprogress for longer is reported stuck by /healthz.")
}

// resetCountsFlag is for the one-shot commands only: an agent resetting
// counts every cycle would fight the autoscaler again.
func (c *config) resetCountsFlag(f *flagSet) {
	g := f.group("Sync")
	f.Bool(g, &c.resetCounts, "reset-counts", false, "Give every task group git's count, also groups with an enabled scaling block (whose count\nthe autoscaler owns and drover otherwise leaves alone) and counts listed in a job's\ndrover.ignore meta: plan shows those count differences, apply registers them.")
}

func (c *config) stateFlags(f *flagSet) {
	g := f.group("Rollouts and rollback")
	f.String(g, &c.statePrefix, "state-prefix", "drover/<instance>/", "Consul KV prefix of drover's state: per job, last good commit, quarantined specs and\nthe rollout in flight. Consul is configured with CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN….")
	f.Duration(g, &c.consulTimeout, "consul-timeout", state.DefaultCallTimeout, "Deadline of one Consul call (state reads and writes, health checks). A Consul that\ndoes not answer in time is unreachable: no rollout is judged on what it last said.")
}

func (c *config) rolloutFlags(f *flagSet, withWait bool) {
	g := f.group("Rollouts and rollback")
	f.Duration(g, &c.policy.MinHealthy, "health-min-healthy", health.DefaultPolicy().MinHealthy, "How long a rollout must be healthy without a break: deployment successful (or every\nnew allocation running) and every Consul check of the new allocations passing.")
	f.Duration(g, &c.policy.Deadline, "health-deadline", health.DefaultPolicy().Deadline, "How long a rollout has to become healthy, from its register. A check still critical\nthen fails it; if only Consul or Nomad was unreachable, the verdict is unknown.")
	f.Duration(g, &c.policy.FailAfter, "health-fail-after", health.DefaultPolicy().FailAfter, "Fail a rollout as soon as one of its checks has been critical without a break for this\nlong (plus the job's longest min_healthy_time or check_restart grace), instead of\nwaiting for --health-deadline. A check passing again resets the clock. 0 waits for\nthe deadline. Per job: meta { drover.health_fail_after = \"2m\" }.")
	f.Duration(g, &c.policy.Bake, "bake", health.DefaultPolicy().Bake, "How long a healthy rollout is still watched before its commit becomes the job's\nlast good commit. A check going critical in it fails the rollout.")
	f.Duration(g, &c.policy.Unresolved, "health-unresolved", health.DefaultPolicy().Unresolved, "How long a rollout without a verdict (Nomad or Consul could not be seen: unknown) is\nstill judged again as soon as they answer. Past it, drover stops watching it\n(rollout.unresolved) and a bad version may be running.")
	f.Bool(g, &c.noRollback, "no-rollback", false, "On a failed rollout, report and quarantine the spec, but do not register the last\ngood commit's spec in its place.")
	if withWait {
		f.Bool(g, &c.wait, "wait", false, "Wait for the rollouts this apply started (through --bake), roll back failed ones,\nand exit 1 if any failed: a CI deploy step.")
	}
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
	f.Duration(g, &c.interval, "interval", agent.DefaultInterval, "Time between syncs. Ignored when --schedule is set.")
	f.String(g, &c.schedule, "schedule", "", "Cron expression for syncs instead of --interval, e.g. \"*/5 * * * *\" or \"@every 30s\".")
	f.Bool(g, &c.dryRun, "dry-run", false, "Detect and report only; never register or stop a job.")
	f.String(g, &c.listen, "listen", agent.DefaultListen, "HTTP address for /healthz, /v1/status, /metrics, POST /v1/sync and the webhooks.")
	f.String(g, &c.webhookSecret, "webhook-secret", "", "Secret of the push webhooks: the HMAC key of POST /webhook/github and the token of\nPOST /webhook/gitlab. Empty: webhooks are refused (403). Never logged.")
	f.String(g, &c.apiToken, "api-token", "", "Bearer token POST /v1/sync requires. Empty: no token needed. GET endpoints stay open.\nNever logged.")
	f.Bool(g, &c.ha, "ha", true, "Run as one replica of a highly available instance: replicas with the same --instance\nelect one leader through Consul (a lock on <state-prefix>leader); only it syncs,\nwatches rollouts and writes state; the others stand by, answer HTTP and take over\nwhen it goes. A lone replica simply leads. false: no election (one process only).")
	f.Duration(g, &c.leaderTTL, "leader-ttl", leader.DefaultTTL, "TTL of the leader's Consul session (at least 10s). A leader that dies without\nresigning is replaced within about twice the TTL plus 5s of lock delay.")
	f.String(g, &c.advertise, "advertise", "", "URL the other replicas reach this one at (for /v1/status on a standby). Default:\nhttp://$NOMAD_ADDR_http when run as a Nomad job with a port named http, else\nhttp://<--listen> with an unspecified host replaced by this host's name.")
	f.Bool(g, &c.ui, "ui", true, "Serve the web page on --listen: GET / (jobs, rollouts, events, live) and\nGET /jobs/<namespace>/<name>. false: no page (the JSON API stays).")
	f.String(g, &c.nomadUIURL, "nomad-ui-url", "", "Nomad web UI the page links jobs to. Default: $NOMAD_ADDR/ui (http://127.0.0.1:4646/ui).")
	f.Bool(g, &c.pprof, "pprof", false, "Serve Go's runtime profiles on --listen under /debug/pprof/ (heap, CPU, goroutines),\nfor go tool pprof. They show job names and specs in memory: keep --listen private.")
	f.Bool(g, &c.watch, "watch-cluster", true, "Watch the cluster's jobs (blocking queries) and sync as soon as one drover\nmanages changes, instead of waiting for --interval / --schedule.")
}

// validate checks what flags alone can tell, and makes the sources: the
// config file's (--config) or the one the source flags make. The checks of
// the other flags hold whichever it is.
func (c *config) validate() error {
	switch {
	case c.ha && c.leaderTTL < leader.MinTTL:
		return fmt.Errorf("--leader-ttl must be at least %s (Consul's shortest session TTL), got %s", leader.MinTTL, c.leaderTTL)
	case c.gitTimeout <= 0 || c.callTimeout <= 0 || c.consulTimeout <= 0:
		return fmt.Errorf("--git-timeout, --nomad-timeout and --consul-timeout must be positive")
	case c.parallel < 1:
		return fmt.Errorf("--parallel must be at least 1, got %d", c.parallel)
	case c.color != "" && c.color != "auto" && c.color != "always" && c.color != "never":
		return fmt.Errorf("--color must be auto, always or never, got %q", c.color)
	case c.policy.MinHealthy < 0 || c.policy.Bake < 0 || c.policy.Unresolved < 0 || c.policy.FailAfter < 0:
		return fmt.Errorf("--health-min-healthy, --bake, --health-fail-after and --health-unresolved must not be negative")
	case c.policy.Deadline < 0 || (c.policy.Deadline > 0 && c.policy.Deadline <= c.policy.MinHealthy):
		return fmt.Errorf("--health-deadline (%s) must be longer than --health-min-healthy (%s)", c.policy.Deadline, c.policy.MinHealthy)
	}
	if _, err := c.variables(); err != nil {
		return err
	}
	if _, err := c.windows(); err != nil {
		return err
	}
	if err := c.selector().Validate(); err != nil {
		return err
	}
	if !c.noSource {
		if err := c.makeSources(); err != nil {
			return err
		}
	}
	return c.validateForge()
}

// makeSources reads --config, or makes the one source of the source flags,
// followed exactly as a config file's are.
func (c *config) makeSources() error {
	if c.configFile != "" {
		return c.validateSources()
	}
	switch {
	case c.repo == "" && c.dir == "":
		return fmt.Errorf("--repo (or DROVER_REPO) is required")
	case c.repo != "" && c.dir != "":
		return fmt.Errorf("--repo and --dir are exclusive: choose git or a local directory")
	case c.dir != "" && c.ref != "":
		return fmt.Errorf("--ref needs --repo; --dir reads the directory as it is")
	case c.auth.Token != "" && c.gitTokenFile != "":
		return fmt.Errorf("--git-token and --git-token-file (or DROVER_GIT_TOKEN and DROVER_GIT_TOKEN_FILE) are exclusive: give the token one way")
	}
	auth := c.auth
	if c.gitTokenFile != "" {
		var err error
		if auth.TokenFrom, err = gitTokenFile(c.gitTokenFile); err != nil {
			return fmt.Errorf("--git-token-file: %w", err)
		}
	}
	vars, _ := c.variables() // checked by validate
	c.sources = []sourceConfig{{
		repo: c.repo, ref: c.ref, dir: c.dir, auth: auth,
		selector: c.selector(), vars: vars, prune: c.prune,
		githubRepo: c.forge.githubRepo, gitlabProject: c.forge.gitlabProject,
	}}
	return nil
}

// validateSources reads --config, which must come alone: a source flag
// beside it would be silently ignored otherwise.
func (c *config) validateSources() error {
	for _, name := range sourceFlagNames {
		if c.setFlags[name] {
			return fmt.Errorf("--config and --%s (or %s) are exclusive: with --config, each source sets its own", name, envName(name))
		}
	}
	getenv := c.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var err error
	c.sources, err = loadSources(c.configFile, c.prune, getenv)
	return err
}

// stateKeyPrefix is --state-prefix with the instance filled in, ending in "/".
func (c *config) stateKeyPrefix() string {
	p := strings.ReplaceAll(c.statePrefix, "<instance>", c.instance)
	if p == "" {
		p = "drover/" + c.instance + "/"
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
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

// replicaID names this process among the replicas of its instance.
func replicaID(getenv func(string) string) string {
	if id := getenv("NOMAD_ALLOC_ID"); id != "" {
		return id
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// advertiseURL is --advertise, or where this replica is reachable by
// default.
func (c *config) advertiseURL(getenv func(string) string) string {
	if c.advertise != "" {
		return strings.TrimSuffix(c.advertise, "/")
	}
	if addr := getenv("NOMAD_ADDR_http"); addr != "" {
		return "http://" + addr
	}
	host, port, err := net.SplitHostPort(c.listen)
	if err != nil {
		return "http://" + c.listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// nomadUI is --nomad-ui-url, or Nomad's own UI at NOMAD_ADDR, without any
// credentials the address may carry.
func (c *config) nomadUI(getenv func(string) string) string {
	raw := c.nomadUIURL
	if raw == "" {
		addr := getenv("NOMAD_ADDR")
		if addr == "" {
			addr = "http://127.0.0.1:4646"
		}
		raw = strings.TrimSuffix(addr, "/") + "/ui"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	u.User = nil
	return strings.TrimSuffix(u.String(), "/")
}
