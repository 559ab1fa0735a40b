package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/drover-dev/drover/jobs"
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
	case a.name != "apps" || a.auth.Token != "tok-from-file" || a.prune:
		t.Errorf("apps: token from file %v, prune %v (want --prune's false)", a.auth.Token == "tok-from-file", a.prune)
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
