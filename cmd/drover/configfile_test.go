package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/source"
)

// writeConfig writes src as a config file and returns its path.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "drover.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadSources_GoodFile(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("tok-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, `
source "platform" {
  repo      = "https://git.example.com/platform/jobs.git"
  ref       = "main"
  path      = ["jobs"]
  include   = ["**/*.hcl"]
  exclude   = ["**/old/**"]
  var_file  = ["prod.vars.hcl"]
  var       = { region = "eu", replicas = 3 }
  namespace = "platform"
  prune     = true

  git_username  = "deploy"
  git_token_env = "PLATFORM_GIT_TOKEN"
}

source "apps" {
  repo           = "https://git.example.com/apps/jobs.git"
  git_token_file = "`+tokenFile+`"
}
`)
	env := map[string]string{"PLATFORM_GIT_TOKEN": "tok-from-env"}
	got, err := loadSources(path, false, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d sources, want 2", len(got))
	}
	p, a := got[0], got[1]
	wantSel := jobs.Selector{Dirs: []string{"jobs"}, Include: []string{"**/*.hcl"}, Exclude: []string{"**/old/**"}}
	wantVars := jobs.Variables{Files: []string{"prod.vars.hcl"}, Flags: map[string]string{"region": "eu", "replicas": "3"}}
	switch {
	case p.name != "platform" || p.repo != "https://git.example.com/platform/jobs.git" || p.ref != "main":
		t.Errorf("platform: %+v", p)
	case !reflect.DeepEqual(p.selector, wantSel) || !reflect.DeepEqual(p.vars, wantVars):
		t.Errorf("platform selector %+v vars %+v", p.selector, p.vars)
	case p.namespace != "platform" || !p.prune:
		t.Errorf("platform namespace %q prune %v", p.namespace, p.prune)
	case p.auth.Username != "deploy" || p.auth.Token != "tok-from-env":
		t.Errorf("platform credentials not read from the environment: user %q", p.auth.Username)
	case a.name != "apps" || a.prune:
		t.Errorf("apps: name %q, prune %v (want --prune's false)", a.name, a.prune)
	}
	// git_token_file is read again whenever the file changes, as
	// --git-token-file is, not once at start-up.
	assertTokenFrom(t, a.auth, tokenFile, "tok-from-file")
}

// assertTokenFrom checks that auth takes its token from the file at path,
// which holds want, and follows a rewrite of the file.
func assertTokenFrom(t *testing.T, auth source.Auth, path, want string) {
	t.Helper()
	if auth.Token != "" || auth.TokenFrom == nil {
		t.Fatalf("token not taken from the file: Token set %v, TokenFrom set %v", auth.Token != "", auth.TokenFrom != nil)
	}
	if got, err := auth.TokenFrom(); err != nil || got != want {
		t.Fatalf("TokenFrom() = %q, %v; want %q", got, err, want)
	}
	// A longer value, so the rewrite is seen within the file system's
	// mtime granularity.
	rotated := want + "-rotated"
	if err := os.WriteFile(path, []byte(rotated+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := auth.TokenFrom(); err != nil || got != rotated {
		t.Fatalf("after the file is rewritten, TokenFrom() = %q, %v; want %q", got, err, rotated)
	}
}

func TestLoadSources_ErrorsNameFileLineAndAttribute(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown attribute", `source "a" {
  repo = "r"
  paths = ["jobs"]
}`, []string{":3", "paths", "Unsupported argument"}},
		{"inline token", `source "a" {
  repo = "r"

  git_token = "ghp-SECRET"
}`, []string{":4", "git_token", "git_token_env or git_token_file"}},
		{"inline passphrase", `source "a" {
  repo = "r"
  ssh_key_passphrase = "SECRET"
}`, []string{":3", "ssh_key_passphrase_env"}},
		{"duplicate names", `source "a" {
  repo = "r1"
}
source "a" {
  repo = "r2"
}`, []string{":4", `source "a" is declared twice (first at line 1)`}},
		{"missing repo", `

source "a" {
  ref = "main"
}`, []string{":3", `"repo" is required`}},
		{"bad name", `source "Bad Name" {
  repo = "r"
}`, []string{":1", "lowercase"}},
		{"path outside the repo", `source "a" {
  repo = "r"
  path = ["../other"]
}`, []string{":3", `path "../other"`, "leaves the repository"}},
		{"bad exclude glob beside an include", `source "a" {
  repo    = "r"
  include = ["**/*.nomad"]
  exclude = ["[x"]
}`, []string{":4", `invalid glob "[x"`}},
		{"token file missing", `source "a" {
  repo = "r"
  git_token_file = "/nonexistent/git-token"
}`, []string{":3", "git_token_file", "/nonexistent/git-token"}},
		{"token env and file", `source "a" {
  repo = "r"
  git_token_env = "TOKEN"
  git_token_file = "/nonexistent/git-token"
}`, []string{":4", "git_token_env and git_token_file are exclusive"}},
		{"token variable not set", `source "a" {
  repo = "r"
  git_token_env = "ghp-SECRET"
}`, []string{":3", "git_token_env", "not set"}},
		{"no source", `# nothing`, []string{"no source block"}},
		{"not HCL", `source "a" {`, []string{":1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.src)
			_, err := loadSources(path, false, func(string) string { return "" })
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range append([]string{path}, tc.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "SECRET") {
				t.Errorf("error shows the secret: %q", msg)
			}
		})
	}
}

func TestConfigFlag_ExclusiveWithSourceFlags(t *testing.T) {
	path := writeConfig(t, `source "a" {
  repo = "/nonexistent"
}`)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"plan", "--config", path, "--repo", "x"}, nil, "--config and --repo (or DROVER_REPO) are exclusive"},
		{[]string{"apply", "--config", path}, map[string]string{"DROVER_VAR": "a=b"}, "--config and --var (or DROVER_VAR)"},
		{[]string{"agent", "--config", path, "--path", "jobs"}, nil, "--config and --path"},
		{[]string{"agent", "--config", path, "--git-token-file", "/x"}, nil, "--config and --git-token-file (or DROVER_GIT_TOKEN_FILE) are exclusive"},
		// The other flags are checked with --config as without it.
		{[]string{"agent", "--config", path, "--parallel", "0"}, nil, "--parallel must be at least 1"},
		{[]string{"agent", "--config", path, "--leader-ttl", "1s"}, nil, "--leader-ttl must be at least 10s"},
		// A source whose repo is not on GitHub must name its GitHub repository.
		{[]string{"agent", "--config", path, "--status", "github"}, map[string]string{"DROVER_GITHUB_TOKEN": "x"}, `source "a": no repository: set github_repo in its block`},
	} {
		code, _, stderr := runCLI(t, tc.env, tc.args...)
		if code != exitError || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestGitTokenFileFlag(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "git-token")
	if err := os.WriteFile(tokenFile, []byte("tok-from-flag-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const repo = "https://git.example.com/jobs.git"

	t.Run("flag", func(t *testing.T) {
		c, err := parseFor(t, "plan", nil, "--repo", repo, "--git-token-file", tokenFile)
		if err != nil {
			t.Fatal(err)
		}
		assertTokenFrom(t, c.sources[0].auth, tokenFile, "tok-from-flag-file")
	})
	t.Run("environment", func(t *testing.T) {
		if err := os.WriteFile(tokenFile, []byte("tok-from-env-file\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := parseFor(t, "agent", map[string]string{"DROVER_GIT_TOKEN_FILE": tokenFile}, "--repo", repo)
		if err != nil {
			t.Fatal(err)
		}
		assertTokenFrom(t, c.sources[0].auth, tokenFile, "tok-from-env-file")
	})

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"both flags", nil, []string{"--git-token", "SECRET-flag", "--git-token-file", tokenFile}, "--git-token and --git-token-file (or DROVER_GIT_TOKEN and DROVER_GIT_TOKEN_FILE) are exclusive"},
		{"token in env, file flag", map[string]string{"DROVER_GIT_TOKEN": "SECRET-env"}, []string{"--git-token-file", tokenFile}, "--git-token and --git-token-file"},
		{"missing file", nil, []string{"--git-token-file", "/nonexistent/git-token"}, "--git-token-file: secret file /nonexistent/git-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFor(t, "plan", tc.env, append([]string{"--repo", repo}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}
