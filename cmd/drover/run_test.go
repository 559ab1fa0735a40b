package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr, func(k string) string { return env[k] })
	return code, stdout.String(), stderr.String()
}

func TestHelp_ListsEveryFlagWithEnvAndDefault(t *testing.T) {
	code, out, _ := runCLI(t, nil, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"--repo", "(env DROVER_REPO)", "--interval", "(env DROVER_INTERVAL, default 1m0s)",
		"--parallel", "default 16", "--listen", "default 127.0.0.1:8680", "NOMAD_ADDR", "CONSUL_HTTP_ADDR",
		"--webhook-secret", "(env DROVER_WEBHOOK_SECRET)", "--api-token", "(env DROVER_API_TOKEN)",
		"POST /webhook/github", "/webhook/gitlab", "GET /metrics",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestFlags_CommandLineBeatsEnvBeatsDefault(t *testing.T) {
	var c config
	f := newFlagSet("agent")
	c.agentFlags(f)
	c.jobFlags(f)
	env := map[string]string{"DROVER_INTERVAL": "30s", "DROVER_LISTEN": "127.0.0.1:9", "DROVER_VAR_FILE": "a.hcl, b.hcl"}
	if err := f.parse([]string{"--listen", "127.0.0.1:10", "--var", "x=1"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.interval != 30*time.Second || c.listen != "127.0.0.1:10" || c.schedule != "" {
		t.Errorf("interval %s listen %s schedule %q", c.interval, c.listen, c.schedule)
	}
	if strings.Join(c.varFiles, "|") != "a.hcl|b.hcl" || strings.Join(c.vars, "|") != "x=1" {
		t.Errorf("var files %q vars %q", c.varFiles, c.vars)
	}

	// A list flag on the command line replaces the environment's list.
	var c2 config
	f2 := newFlagSet("plan")
	c2.jobFlags(f2)
	if err := f2.parse([]string{"--var-file", "c.hcl"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c2.varFiles, "|") != "c.hcl" {
		t.Errorf("var files %q, want only the command line's", c2.varFiles)
	}
}

func TestRun_ClearErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no source", nil, []string{"plan"}, "--repo (or DROVER_REPO) is required"},
		{"both sources", nil, []string{"plan", "--repo", "x", "--dir", "y"}, "exclusive"},
		{"bad env duration", map[string]string{"DROVER_INTERVAL": "soon"}, []string{"agent", "--repo", "x"}, "DROVER_INTERVAL"},
		{"bad var", nil, []string{"plan", "--dir", ".", "--var", "novalue"}, "want key=value"},
		{"bad glob", nil, []string{"plan", "--dir", ".", "--include", "[x"}, "invalid glob"},
		{"bad parallel", nil, []string{"apply", "--dir", ".", "--parallel", "0"}, "--parallel"},
		{"unknown command", nil, []string{"deploy"}, "unknown command"},
		{"unknown flag", nil, []string{"plan", "--bogus"}, "bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.env, tc.args...)
			if code != exitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "drover ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// TestSuspend_TakesTheAgentsFlagsAndJobsAnywhere: one flag set serves
// agent, suspend and resume; jobs may come before, between and after
// flags; no --repo is needed; a bad window names its flag.
func TestSuspend_TakesTheAgentsFlagsAndJobsAnywhere(t *testing.T) {
	agentArgs := []string{"--repo", "https://example.invalid/jobs.git", "--instance", "prod", "--prune", "--deny-window", "@daily 1h"}
	c, err := parseFor(t, "suspend", nil, append([]string{"web", "--reason", "db migration", "infra/cache", "--by", "ann"}, agentArgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.control.jobs, " ") != "web infra/cache" || c.control.reason != "db migration" || c.control.by != "ann" ||
		c.instance != "prod" || c.stateKeyPrefix() != "drover/prod/" {
		t.Errorf("parsed %+v, instance %q", c.control, c.instance)
	}
	if c, err := parseFor(t, "resume", nil, "--instance", "prod"); err != nil || len(c.control.jobs) != 0 {
		t.Errorf("resume with no --repo and no job: %v", err)
	}
	if _, err := parseFor(t, "resume", nil, "web", "--reason", "x"); err == nil {
		t.Error("resume took --reason")
	}
	_, err = parseFor(t, "agent", nil, "--repo", "x", "--allow-window", "0 9 * * MON-FRI")
	if err == nil || !strings.Contains(err.Error(), `--allow-window: window "0 9 * * MON-FRI"`) {
		t.Errorf("bad window: %v", err)
	}
	if code, _, stderr := runCLI(t, nil, "agent", "--repo", "x", "web"); code != 1 || !strings.Contains(stderr, `unexpected argument "web"`) {
		t.Errorf("agent took a job argument: %d %s", code, stderr)
	}
}
