package source

import (
	"context"
	"errors"
	"github.com/drover-dev/drover/failure"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFetch_ResolvesRef(t *testing.T) {
	o := newOrigin(t, "main")
	first := o.commit(map[string]string{"app.hcl": "v1"})
	o.git("tag", "-a", "-m", "annotated", "v1")
	o.git("tag", "-a", "-m", "tag of a tag", "v1-outer", "v1")
	second := o.commit(map[string]string{"app.hcl": "v2"})
	o.git("tag", "v2") // lightweight
	o.git("branch", "release", first)
	third := o.commit(map[string]string{"app.hcl": "v3"})
	// A branch and a tag with the same name: the branch wins.
	o.git("branch", "dup", third)
	o.git("tag", "dup", first)

	dataDir := t.TempDir() // shared: later cases reopen the first case's clone
	tests := []struct {
		name string
		ref  string
		want string
	}{
		{"default branch", "", third},
		{"branch", "main", third},
		{"other branch", "release", first},
		{"annotated tag", "v1", first},
		{"annotated tag of an annotated tag", "v1-outer", first},
		{"lightweight tag", "v2", second},
		{"full SHA", second, second},
		{"full SHA in upper case", strings.ToUpper(first), first},
		{"branch before tag", "dup", third},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustOpen(t, Options{URL: o.dir, Ref: tt.ref, DataDir: dataDir})
			s := mustFetch(t, r)
			if got := s.Revision(); got != tt.want {
				t.Fatalf("Revision() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFetch_DefaultBranchFollowsRemoteHEAD(t *testing.T) {
	o := newOrigin(t, "trunk")
	trunk := o.commit(map[string]string{"a": "trunk"})
	o.git("checkout", "-q", "-b", "master")
	master := o.commit(map[string]string{"a": "master"})
	o.git("checkout", "-q", "trunk")

	r := mustOpen(t, Options{URL: o.dir})
	if got := mustFetch(t, r).Revision(); got != trunk {
		t.Fatalf("default branch resolved to %s, want trunk %s (master is %s)", got, trunk, master)
	}

	o.git("symbolic-ref", "HEAD", "refs/heads/master")
	if got := mustFetch(t, r).Revision(); got != master {
		t.Fatalf("after the remote HEAD moved, resolved to %s, want master %s", got, master)
	}
}

func TestFetch_PicksUpNewCommitIncrementally(t *testing.T) {
	o := newOrigin(t, "main")
	first := o.commit(map[string]string{"jobs/web.hcl": "one"})
	r := mustOpen(t, Options{URL: o.dir, Ref: "main"})
	old := mustFetch(t, r)
	if old.Revision() != first {
		t.Fatalf("first fetch = %s, want %s", old.Revision(), first)
	}

	second := o.commit(map[string]string{"jobs/web.hcl": "two"})
	s := mustFetch(t, r)
	if s.Revision() != second {
		t.Fatalf("second fetch = %s, want %s", s.Revision(), second)
	}
	if got := readFile(t, s, "jobs/web.hcl"); got != "two" {
		t.Fatalf("new snapshot reads %q, want two", got)
	}
	if got := readFile(t, old, "jobs/web.hcl"); got != "one" {
		t.Fatalf("old snapshot reads %q after fetch, want one", got)
	}
	// The clone was extended by a second pack, not cloned again.
	packs, err := filepath.Glob(filepath.Join(r.dir, "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	if len(packs) != 2 {
		t.Fatalf("clone has %d packs, want 2 (initial clone + one incremental fetch)", len(packs))
	}

	if got := mustFetch(t, r).Revision(); got != second {
		t.Fatalf("up-to-date fetch = %s, want %s", got, second)
	}
}

func TestFetch_FollowsForcePushAndMovedTags(t *testing.T) {
	o := newOrigin(t, "main")
	first := o.commit(map[string]string{"a": "1"})
	o.commit(map[string]string{"a": "2"})
	o.git("tag", "-a", "-m", "release", "stable")
	branch := mustOpen(t, Options{URL: o.dir, Ref: "main"})
	tag := mustOpen(t, Options{URL: o.dir, Ref: "stable"})
	mustFetch(t, branch)
	mustFetch(t, tag)

	o.git("reset", "-q", "--hard", first)
	rewritten := o.commit(map[string]string{"a": "rewritten"})
	o.git("tag", "-f", "-a", "-m", "moved", "stable")

	if got := mustFetch(t, branch).Revision(); got != rewritten {
		t.Fatalf("after force-push, branch = %s, want %s", got, rewritten)
	}
	if got := mustFetch(t, tag).Revision(); got != rewritten {
		t.Fatalf("after moving the tag, tag = %s, want %s", got, rewritten)
	}
}

func TestFetch_PrunesDeletedRefs(t *testing.T) {
	tests := []struct {
		name   string
		create []string
		delete []string
	}{
		{"branch", []string{"branch", "feature"}, []string{"branch", "-D", "feature"}},
		{"tag", []string{"tag", "feature"}, []string{"tag", "-d", "feature"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, "main")
			o.commit(map[string]string{"a": "1"})
			o.git(tt.create...)
			r := mustOpen(t, Options{URL: o.dir, Ref: "feature"})
			mustFetch(t, r)

			o.git(tt.delete...)
			_, err := r.Fetch(context.Background())
			if !errors.Is(err, ErrRefNotFound) {
				t.Fatalf("Fetch after deleting %s = %v, want ErrRefNotFound", tt.name, err)
			}
		})
	}
}

func TestFetch_MissingRef(t *testing.T) {
	o := newOrigin(t, "main")
	o.commit(map[string]string{"a": "1"})
	tests := []struct {
		name string
		ref  string
		want []string
	}{
		{"unknown name", "nope", []string{`"nope"`, "no such branch or tag"}},
		{"unknown full SHA", "0123456789abcdef0123456789abcdef01234567", []string{"0123456789abcdef0123456789abcdef01234567", "not in the fetched history"}},
		{"short SHA", "0123456", []string{`"0123456"`, "40 hex"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustOpen(t, Options{URL: o.dir, Ref: tt.ref})
			_, err := r.Fetch(context.Background())
			if !errors.Is(err, ErrRefNotFound) {
				t.Fatalf("Fetch = %v, want ErrRefNotFound", err)
			}
			if st, ok := failure.StallOf(err); !ok || st.Reason() != "git ref not found (check --ref, or push it)" {
				t.Errorf("Fetch = %#v, want a stall naming --ref", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestFetch_HonoursContext(t *testing.T) {
	o := newOrigin(t, "main")
	o.commit(map[string]string{"a": "1"})
	r := mustOpen(t, Options{URL: o.dir})
	mustFetch(t, r)
	o.commit(map[string]string{"a": "2"})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Fetch(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch with a cancelled context = %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "fetch "+o.dir) {
		t.Errorf("error %q does not say which fetch failed", err)
	}
}

func TestOpen_AcceptsLocalURLForms(t *testing.T) {
	o := newOrigin(t, "main")
	head := o.commit(map[string]string{"a": "1"})
	parent := filepath.Dir(o.dir)
	tests := []struct {
		name, url string
	}{
		{"absolute path", o.dir},
		{"file URL", "file://" + o.dir},
		{"relative path", "./origin"},
	}
	t.Chdir(parent)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustOpen(t, Options{URL: tt.url})
			if got := mustFetch(t, r).Revision(); got != head {
				t.Fatalf("Revision() = %s, want %s", got, head)
			}
		})
	}
}

func TestOpen_ClonesBareWithoutCredentials(t *testing.T) {
	o := newOrigin(t, "main")
	o.commit(map[string]string{"a": "1"})
	r := mustOpen(t, Options{URL: o.dir})
	mustFetch(t, r)

	clone := &origin{t: t, dir: r.dir}
	if got := clone.git("rev-parse", "--is-bare-repository"); got != "true" {
		t.Errorf("clone is bare = %s, want true", got)
	}
	if got := clone.git("config", "remote.origin.url"); got != o.dir {
		t.Errorf("clone remote URL = %q, want %q", got, o.dir)
	}
	if got := clone.git("symbolic-ref", "HEAD"); got != "refs/heads/main" {
		t.Errorf("clone HEAD = %q, want the remote default branch refs/heads/main", got)
	}
	clone.git("fsck", "--no-progress")
	if _, err := os.Stat(filepath.Join(r.dir, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("clone has a checked-out worktree file: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(r.dir), ".clone-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary clone directories left behind: %v", leftovers)
	}
}

func TestOpen_RejectsCloneOfAnotherRemote(t *testing.T) {
	a := newOrigin(t, "main")
	a.commit(map[string]string{"a": "1"})
	b := newOrigin(t, "main")
	b.commit(map[string]string{"b": "1"})
	dataDir := t.TempDir()
	ra := mustOpen(t, Options{URL: a.dir, DataDir: dataDir})
	mustFetch(t, ra)

	// Put a's clone where b's belongs.
	bDir := filepath.Join(dataDir, "git", cloneName(b.dir))
	if err := os.Rename(ra.dir, bDir); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Options{URL: b.dir, DataDir: dataDir})
	if err == nil {
		t.Fatal("Open of b over a's clone succeeded")
	}
	for _, w := range []string{bDir, "belongs to another remote", a.dir} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestOpen_RejectsCloneDirThatIsNotARepository(t *testing.T) {
	o := newOrigin(t, "main")
	o.commit(map[string]string{"a": "1"})
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, "git", cloneName(o.dir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Options{URL: o.dir, DataDir: dataDir})
	if err == nil || !strings.Contains(err.Error(), "not a git repository") {
		t.Fatalf("Open = %v, want an error saying the directory is not a git repository", err)
	}
}

func TestFetch_DefaultBranchWhenRemoteHEADIsUnborn(t *testing.T) {
	o := newOrigin(t, "main")
	head := o.commit(map[string]string{"a": "1"})
	known := mustOpen(t, Options{URL: o.dir})
	mustFetch(t, known)

	o.git("symbolic-ref", "HEAD", "refs/heads/gone")

	// A clone that saw the default branch before keeps using it.
	if got := mustFetch(t, known).Revision(); got != head {
		t.Fatalf("Revision() = %s, want the last known default branch at %s", got, head)
	}
	// A new clone cannot know it.
	_, err := mustOpen(t, Options{URL: o.dir}).Fetch(context.Background())
	if !errors.Is(err, ErrRefNotFound) || !strings.Contains(err.Error(), "set a ref") {
		t.Fatalf("Fetch = %v, want ErrRefNotFound asking for a ref", err)
	}
}

// TestOpen_DoesNotConnect: a remote that is down at start-up fails the
// first Fetch, clearly, instead of Open; reads before any fetch are errors,
// not panics.
func TestOpen_DoesNotConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/jobs.git"
	l.Close()
	r, err := Open(context.Background(), Options{URL: url, DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open of an unreachable remote: %v", err)
	}
	if _, err := r.Snapshot(strings.Repeat("a", 40)); !errors.Is(err, ErrRefNotFound) {
		t.Errorf("Snapshot before any fetch = %v, want ErrRefNotFound", err)
	}
	_, err = r.Fetch(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "clone "+url+": ") || strings.Count(err.Error(), "clone") != 1 {
		t.Errorf("first Fetch = %v, want one clear clone error naming %s", err, url)
	}
}
