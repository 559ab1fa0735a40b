package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// Both views let the loader refuse an oversized file unread and report
// symlinked job files.
var (
	_ jobs.Sizer         = (*Snapshot)(nil)
	_ jobs.Sizer         = (*DirSnapshot)(nil)
	_ jobs.SymlinkLister = (*Snapshot)(nil)
	_ jobs.SymlinkLister = (*DirSnapshot)(nil)
)

// bigContent is n bytes that do not compress to nothing, so the blob is
// stored large in the pack.
func bigContent(n int, seed byte) string {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "# line %d %c\n", i*7919, 'a'+seed)
	}
	return b.String()[:n]
}

func TestSnapshot_SizeAndSymlinks(t *testing.T) {
	o, _ := nestedOrigin(t)
	if err := os.Symlink("../a.b", filepath.Join(o.dir, "jobs", "linked.nomad.hcl")); err != nil {
		t.Fatal(err)
	}
	big1 := bigContent(3<<20, 0)
	o.commit(map[string]string{"jobs/big.nomad": big1})
	// A small change to a big file: stored as a delta against the first.
	big2 := big1[:len(big1)-100] + bigContent(200, 1)
	head := o.commit(map[string]string{"jobs/big.nomad": big2})
	r := mustOpen(t, Options{URL: o.dir})
	s := mustFetch(t, r)
	if s.Revision() != head {
		t.Fatalf("Revision = %s, want %s", s.Revision(), head)
	}

	for path, want := range map[string]int{
		"jobs/web/api.nomad.hcl": len("job \"api\" {}"),
		"bin/run.sh":             len("#!/bin/sh\n"),
		"jobs/big.nomad":         len(big2),
	} {
		got, err := s.Size(path)
		if err != nil || got != int64(want) {
			t.Errorf("Size(%q) = %d, %v; want %d", path, got, err, want)
		}
	}
	for _, path := range []string{"missing", "jobs", "link", "jobs/linked.nomad.hcl", "../a.b", ""} {
		if _, err := s.Size(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Size(%q) = %v, want fs.ErrNotExist", path, err)
		}
	}

	links, err := s.Symlinks()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"jobs/linked.nomad.hcl", "link"}; !slices.Equal(links, want) {
		t.Errorf("Symlinks() = %q, want %q", links, want)
	}
	files, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(files, "link") || slices.Contains(files, "jobs/linked.nomad.hcl") {
		t.Errorf("Files() lists a symlink: %q", files)
	}
	// The listing is walked once and shared: a caller's change to its
	// copy must not reach the next caller.
	files[0], links[0] = "changed", "changed"
	again, _ := s.Files()
	linksAgain, _ := s.Symlinks()
	if again[0] == "changed" || linksAgain[0] == "changed" {
		t.Error("Files or Symlinks hands out the snapshot's own slice")
	}
}

// parseAll stands in for Nomad's parse API: every file is a job named
// after its length.
type parseAll struct{}

func (parseAll) ParseJob(_ context.Context, req *api.JobsParseRequest) (*api.Job, error) {
	id := fmt.Sprintf("job-%d", len(req.JobHCL))
	return &api.Job{ID: &id}, nil
}

func TestLoader_OverASnapshotRefusesAnOversizedFileAndReportsSymlinks(t *testing.T) {
	o := newOrigin(t, "main")
	if err := os.MkdirAll(filepath.Join(o.dir, "jobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok.nomad", filepath.Join(o.dir, "jobs", "alias.nomad")); err != nil {
		t.Fatal(err)
	}
	o.commit(map[string]string{
		"jobs/ok.nomad":  "job \"ok\" {}",
		"jobs/big.nomad": bigContent(2<<20, 2),
	})
	s := mustFetch(t, mustOpen(t, Options{URL: o.dir}))
	l := &jobs.Loader{Parser: parseAll{}}
	set, err := l.Load(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var tooLarge *jobs.FileTooLargeError
	for _, f := range set.Files {
		switch f.Path {
		case "jobs/big.nomad":
			if !errors.As(f.Err, &tooLarge) || tooLarge.Size != 2<<20 || tooLarge.Limit != jobs.DefaultMaxFileSize {
				t.Errorf("big.nomad: %v, want a FileTooLargeError of %d bytes", f.Err, 2<<20)
			}
		case "jobs/ok.nomad":
			if f.Err != nil {
				t.Errorf("ok.nomad: %v", f.Err)
			}
		default:
			t.Errorf("unexpected file %s", f.Path)
		}
	}
	if want := []jobs.Skipped{{Path: "jobs/alias.nomad", Reason: set.Skipped[0].Reason}}; !slices.Equal(set.Skipped, want) || want[0].Reason == "" {
		t.Errorf("Skipped = %v, want the symlink jobs/alias.nomad with a reason", set.Skipped)
	}
}

func TestDir_SizeAndSymlinks(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"jobs/a.nomad": "job a",
		".git/x.nomad": "not a job",
	})
	if err := os.Symlink("a.nomad", filepath.Join(root, "jobs", "b.nomad")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("jobs", filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("x.nomad", filepath.Join(root, ".git", "y.nomad")); err != nil {
		t.Fatal(err)
	}
	d, err := Dir(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Size("jobs/a.nomad"); err != nil || got != int64(len("job a")) {
		t.Errorf("Size = %d, %v", got, err)
	}
	for _, path := range []string{"jobs/b.nomad", "dirlink/a.nomad", "missing", ".git/x.nomad", "jobs"} {
		if _, err := d.Size(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Size(%q) = %v, want fs.ErrNotExist", path, err)
		}
	}
	links, err := d.Symlinks()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dirlink", "jobs/b.nomad"}; !slices.Equal(links, want) {
		t.Errorf("Symlinks() = %q, want %q", links, want)
	}
}
