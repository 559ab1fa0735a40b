package source

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Tree is what drover's consumers need from a snapshot; both views must
// satisfy it.
type Tree interface {
	Revision() string
	Files() ([]string, error)
	ReadFile(path string) ([]byte, error)
}

var (
	_ Tree = (*Snapshot)(nil)
	_ Tree = (*DirSnapshot)(nil)
)

// origin is a git repository, built with the git CLI, that tests clone.
type origin struct {
	t   testing.TB
	dir string
}

// newOrigin creates an empty repository whose first branch is branch.
func newOrigin(t testing.TB, branch string) *origin {
	t.Helper()
	o := &origin{t: t, dir: filepath.Join(t.TempDir(), "origin")}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o.git("init", "-q", "-b", branch)
	return o
}

// git runs git in the origin and returns its trimmed output.
func (o *origin) git(args ...string) string {
	o.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		o.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files, removes the paths in remove, commits everything,
// and returns the new commit's SHA.
func (o *origin) commit(files map[string]string, remove ...string) string {
	o.t.Helper()
	for name, content := range files {
		p := filepath.Join(o.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			o.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			o.t.Fatal(err)
		}
	}
	for _, name := range remove {
		if err := os.Remove(filepath.Join(o.dir, filepath.FromSlash(name))); err != nil {
			o.t.Fatal(err)
		}
	}
	o.git("add", "-A")
	o.git("commit", "-q", "--allow-empty", "-m", "change")
	return o.git("rev-parse", "HEAD")
}

// mustOpen opens opts and fails the test on error.
func mustOpen(t testing.TB, opts Options) *Repo {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	r, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

// mustFetch fetches and fails the test on error.
func mustFetch(t testing.TB, r *Repo) *Snapshot {
	t.Helper()
	s, err := r.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return s
}

// readFile reads path from tree and fails the test on error.
func readFile(t *testing.T, tree Tree, path string) string {
	t.Helper()
	data, err := tree.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile(%q): %v", path, err)
	}
	return string(data)
}
