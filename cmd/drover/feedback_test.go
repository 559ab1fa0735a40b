package main

import (
	"strings"
	"testing"
)

// parseFor parses and validates args for command the way run does,
// without running it.
func parseFor(t *testing.T, command string, env map[string]string, args ...string) (*config, error) {
	t.Helper()
	for _, cmd := range commands() {
		if cmd.name != command {
			continue
		}
		var c config
		f := newFlagSet(cmd.name)
		cmd.flags(&c, f)
		getenv := func(k string) string { return env[k] }
		if err := cmd.parse(&c, f, args, getenv); err != nil {
			return nil, err
		}
		c.readTokens(getenv)
		return &c, c.validate()
	}
	t.Fatalf("no command %s", command)
	return nil, nil
}

func TestForgeFlags_ClearErrors(t *testing.T) {
	gh := map[string]string{"DROVER_GITHUB_TOKEN": "ghp-SECRET"}
	for _, tc := range []struct {
		name    string
		command string
		env     map[string]string
		args    []string
		want    string
	}{
		{"unknown provider", "plan", gh, []string{"--dir", ".", "--comment", "bitbucket", "--pr", "1"}, "want github or gitlab"},
		{"github without --pr", "plan", gh, []string{"--dir", ".", "--comment", "github", "--github-repo", "a/b"}, "--pr"},
		{"gitlab without --mr", "plan", nil, []string{"--dir", ".", "--comment", "gitlab", "--pr", "3"}, "--mr"},
		{"no repository", "plan", gh, []string{"--dir", ".", "--comment", "github", "--pr", "1"}, "--github-repo"},
		{"repo not on gitlab", "agent", map[string]string{"DROVER_GITLAB_TOKEN": "x"}, []string{"--repo", "https://github.com/a/b.git", "--status", "gitlab"}, "--gitlab-project"},
		{"no token", "plan", nil, []string{"--dir", ".", "--comment", "github", "--pr", "1", "--github-repo", "a/b"}, "DROVER_GITHUB_TOKEN"},
		{"bad notify URL", "agent", nil, []string{"--repo", "x", "--notify", "ftp://hooks.example/SECRET"}, "http(s) URL"},
		{"negative threshold", "agent", nil, []string{"--repo", "x", "--notify-after-failing", "-1s"}, "--notify-after-failing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFor(t, tc.command, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("err = %v; want %q and no secret", err, tc.want)
			}
		})
	}
}

func TestForgeFlags_RepositoryFromRepoAndTokenFromEnvOnly(t *testing.T) {
	c, err := parseFor(t, "agent", map[string]string{"DROVER_GITHUB_TOKEN": "ghp-x", "DROVER_NOTIFY": "slack:https://hooks.slack.com/services/T/B/K, https://events.example/in"},
		"--repo", "git@github.com:acme/deploys.git", "--status", "github")
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.sourceForge("github", c.sources[0])
	if err != nil || o.Repo != "acme/deploys" || o.Token != "ghp-x" || o.APIURL != "https://api.github.com/" {
		t.Errorf("forge options %+v, %v", o, err)
	}
	ts, err := c.notifyTargets()
	if err != nil || len(ts) != 2 || ts[0].Format != "slack" || ts[1].Format != "cloudevents" {
		t.Errorf("targets %+v, %v", ts, err)
	}
	if got := c.webRepo().CommitURL("abc"); got != "https://github.com/acme/deploys/commit/abc" {
		t.Errorf("commit link %q", got)
	}
	ghe, err := parseFor(t, "plan", map[string]string{"DROVER_GITHUB_TOKEN": "x"}, "--dir", ".", "--comment", "github", "--pr", "1",
		"--github-repo", "acme/deploys", "--github-api-url", "https://ghe.example.com/api/v3/")
	if err != nil || ghe.webRepo().CommitURL("abc") != "https://ghe.example.com/acme/deploys/commit/abc" {
		t.Errorf("GitHub Enterprise commit link %q, %v", ghe.webRepo().CommitURL("abc"), err)
	}
	// A token is never a flag: it would show in ps and shell history.
	if _, err := parseFor(t, "plan", nil, "--dir", ".", "--github-token", "x"); err == nil {
		t.Error("--github-token is accepted as a flag")
	}
}

// TestForgeFlags_ConfigSourcesSetStatusesInTheirOwnRepos: with --config,
// each source's statuses go to its own repository (named in its block or
// taken from its URL), and a plan comment goes to the one repository the
// sources share, or the one --github-repo names.
func TestForgeFlags_ConfigSourcesSetStatusesInTheirOwnRepos(t *testing.T) {
	env := map[string]string{"DROVER_GITHUB_TOKEN": "ghp-x"}
	two := writeConfig(t, `
source "web" {
  repo = "https://github.com/acme/web.git"
}
source "db" {
  repo        = "/srv/mirror/db"
  github_repo = "acme/db"
}`)
	c, err := parseFor(t, "agent", env, "--config", two, "--status", "github")
	if err != nil {
		t.Fatal(err)
	}
	byName, err := c.statusOptions()
	if err != nil || len(byName) != 2 || byName["web"].Repo != "acme/web" || byName["db"].Repo != "acme/db" || byName["db"].Token != "ghp-x" {
		t.Fatalf("status options %+v, %v; want web in acme/web, db in acme/db", byName, err)
	}
	if _, err := parseFor(t, "plan", env, "--config", two, "--comment", "github", "--pr", "3"); err == nil ||
		!strings.Contains(err.Error(), "2 github repositories (acme/web, acme/db)") || !strings.Contains(err.Error(), "--github-repo") {
		t.Errorf("comment with sources in two repos: %v; want them named and --github-repo asked for", err)
	}
	c, err = parseFor(t, "plan", env, "--config", two, "--comment", "github", "--pr", "3", "--github-repo", "acme/deploys")
	if o, cerr := c.commentOptions("github"); err != nil || cerr != nil || o.Repo != "acme/deploys" {
		t.Errorf("comment with --github-repo: %+v, %v, %v", o, err, cerr)
	}

	mono := writeConfig(t, `
source "apps" {
  repo = "git@github.com:acme/mono.git"
  path = ["apps"]
}
source "infra" {
  repo = "git@github.com:acme/mono.git"
  path = ["infra"]
}`)
	c, err = parseFor(t, "plan", env, "--config", mono, "--comment", "github", "--pr", "3")
	if o, cerr := c.commentOptions("github"); err != nil || cerr != nil || o.Repo != "acme/mono" {
		t.Errorf("comment with every source in one repo: %+v, %v, %v; want acme/mono", o, err, cerr)
	}
}
