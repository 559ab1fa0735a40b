package source

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/drover-dev/drover/jobs"
)

// nestedOrigin has nested paths, names whose tree order differs from
// string order ("a.b" vs "a/x"), an executable, and a symlink.
func nestedOrigin(t *testing.T) (*origin, string) {
	t.Helper()
	o := newOrigin(t, "main")
	if err := os.MkdirAll(filepath.Join(o.dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.dir, "bin", "run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("jobs/web/api.nomad.hcl", filepath.Join(o.dir, "link")); err != nil {
		t.Fatal(err)
	}
	head := o.commit(map[string]string{
		"jobs/web/api.nomad.hcl": "job \"api\" {}",
		"jobs/db.nomad.hcl":      "job \"db\" {}",
		"a.b":                    "dot",
		"a/x":                    "slash",
		"README.md":              "readme",
	})
	return o, head
}

func TestSnapshot_FilesAndReadFile(t *testing.T) {
	o, head := nestedOrigin(t)
	s := mustFetch(t, mustOpen(t, Options{URL: o.dir}))
	if s.Revision() != head {
		t.Fatalf("Revision() = %s, want %s", s.Revision(), head)
	}

	files, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.md", "a.b", "a/x", "bin/run.sh", "jobs/db.nomad.hcl", "jobs/web/api.nomad.hcl"}
	if !slices.Equal(files, want) {
		t.Fatalf("Files() = %q, want %q", files, want)
	}
	for path, content := range map[string]string{
		"jobs/web/api.nomad.hcl": "job \"api\" {}",
		"a/x":                    "slash",
		"bin/run.sh":             "#!/bin/sh\n",
	} {
		if got := readFile(t, s, path); got != content {
			t.Errorf("ReadFile(%q) = %q, want %q", path, got, content)
		}
	}
}

func TestSnapshot_ReadFileOfNonFileIsNotExist(t *testing.T) {
	o, _ := nestedOrigin(t)
	s := mustFetch(t, mustOpen(t, Options{URL: o.dir}))
	for _, path := range []string{"missing", "jobs/missing.hcl", "jobs", "jobs/web", "link", "a.b/x", "../a.b", "/a.b", "jobs//db.nomad.hcl", "", "."} {
		t.Run(path, func(t *testing.T) {
			_, err := s.ReadFile(path)
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("ReadFile(%q) = %v, want fs.ErrNotExist", path, err)
			}
		})
	}
}

func TestRepo_SnapshotOfOlderCommit(t *testing.T) {
	o := newOrigin(t, "main")
	first := o.commit(map[string]string{"app.hcl": "good"})
	r := mustOpen(t, Options{URL: o.dir})
	o.commit(map[string]string{"app.hcl": "bad"})
	mustFetch(t, r)

	s, err := r.Snapshot(strings.ToUpper(first))
	if err != nil {
		t.Fatal(err)
	}
	if s.Revision() != first {
		t.Errorf("Revision() = %s, want %s", s.Revision(), first)
	}
	if got := readFile(t, s, "app.hcl"); got != "good" {
		t.Errorf("older snapshot reads %q, want good", got)
	}

	tests := []struct {
		name, sha string
		notFound  bool
	}{
		{"unknown commit", "0123456789abcdef0123456789abcdef01234567", true},
		{"short SHA", first[:7], false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Snapshot(tt.sha)
			if err == nil {
				t.Fatalf("Snapshot(%q) succeeded", tt.sha)
			}
			if errors.Is(err, ErrRefNotFound) != tt.notFound {
				t.Errorf("Snapshot(%q) = %v; ErrRefNotFound = %v, want %v", tt.sha, err, !tt.notFound, tt.notFound)
			}
		})
	}
}

func TestRepo_Changed(t *testing.T) {
	o := newOrigin(t, "main")
	base := o.commit(map[string]string{
		"jobs/keep.hcl":   "same",
		"jobs/modify.hcl": "old",
		"jobs/delete.hcl": "gone soon",
		"old-name.hcl":    "renamed",
	})
	o.git("mv", "old-name.hcl", "jobs/new-name.hcl")
	next := o.commit(map[string]string{
		"jobs/modify.hcl":     "new",
		"jobs/nested/add.hcl": "added",
	}, "jobs/delete.hcl")
	r := mustOpen(t, Options{URL: o.dir})
	mustFetch(t, r)

	tests := []struct {
		name     string
		from, to string
		want     []string
	}{
		{"add, modify, delete, rename", base, next, []string{"jobs/delete.hcl", "jobs/modify.hcl", "jobs/nested/add.hcl", "jobs/new-name.hcl", "old-name.hcl"}},
		{"reverse direction", next, base, []string{"jobs/delete.hcl", "jobs/modify.hcl", "jobs/nested/add.hcl", "jobs/new-name.hcl", "old-name.hcl"}},
		{"from nothing", "", base, []string{"jobs/delete.hcl", "jobs/keep.hcl", "jobs/modify.hcl", "old-name.hcl"}},
		{"same commit", next, next, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Changed(tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Changed = %q, want %q", got, tt.want)
			}
		})
	}

	snap, err := r.Snapshot(next)
	if err != nil {
		t.Fatal(err)
	}
	var _ jobs.ChangeLister = snap
	if got, err := snap.ChangedSince(base); err != nil || !slices.Equal(got, tests[0].want) {
		t.Errorf("Snapshot(next).ChangedSince(base) = %q, %v; want %q", got, err, tests[0].want)
	}

	for _, bad := range [][2]string{{base[:7], next}, {base, ""}, {base, "0123456789abcdef0123456789abcdef01234567"}} {
		if _, err := r.Changed(bad[0], bad[1]); err == nil {
			t.Errorf("Changed(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}

// TestRepo_ConcurrentUse is for the race detector: fetches and reads of
// snapshots from many goroutines share one clone.
func TestRepo_ConcurrentUse(t *testing.T) {
	o, _ := nestedOrigin(t)
	r := mustOpen(t, Options{URL: o.dir})
	old := mustFetch(t, r)
	o.commit(map[string]string{"jobs/db.nomad.hcl": "changed"})

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 4 {
		wg.Go(func() {
			s, err := r.Fetch(context.Background())
			if err != nil {
				errs <- err
				return
			}
			if _, err := r.Changed(old.Revision(), s.Revision()); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			s, err := r.Snapshot(old.Revision())
			if err != nil {
				errs <- err
				return
			}
			files, err := s.Files()
			if err != nil {
				errs <- err
				return
			}
			for _, f := range files {
				if _, err := old.ReadFile(f); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
