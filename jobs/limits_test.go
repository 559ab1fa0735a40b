package jobs

import (
	"context"
	"errors"
	"fmt"
	"github.com/drover-dev/drover/failure"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// sizedTree is a fakeTree that is also a Sizer and a SymlinkLister, like
// source.Snapshot. It fails the test when a file over its limit is read:
// the loader must refuse such a file on its size alone.
type sizedTree struct {
	*fakeTree
	t        *testing.T
	limit    int64
	symlinks []string
}

func (s *sizedTree) Size(p string) (int64, error) {
	src, ok := s.files[p]
	if !ok {
		return 0, fmt.Errorf("size %s: %w", p, fs.ErrNotExist)
	}
	return int64(len(src)), nil
}

func (s *sizedTree) ReadFile(p string) ([]byte, error) {
	if int64(len(s.files[p])) > s.limit {
		s.t.Errorf("ReadFile(%q) of a file over the limit: it must be refused unread", p)
	}
	return s.fakeTree.ReadFile(p)
}

func (s *sizedTree) Symlinks() ([]string, error) { return s.symlinks, nil }

func TestLoader_OversizedJobFileIsAnErrorOnItsFileOnly(t *testing.T) {
	const limit = 64
	files := map[string]string{
		"ok.nomad":    "job = ok",
		"exact.nomad": "job = exact\nimage = " + strings.Repeat("x", limit-len("job = exact\nimage = ")),
		"big.nomad":   "job = big\nimage = " + strings.Repeat("x", limit),
	}
	for _, tc := range []struct {
		name string
		tree Tree
	}{
		{"tree that tells sizes: never read", &sizedTree{fakeTree: &fakeTree{rev: "c1", files: files}, t: t, limit: limit}},
		{"tree that does not: refused once read", &fakeTree{rev: "c1", files: files}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakeParser{}
			set, err := (&Loader{Parser: p, MaxFileSize: limit}).Load(context.Background(), tc.tree)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			for _, f := range set.Files {
				var tooLarge *FileTooLargeError
				switch f.Path {
				case "big.nomad":
					if !errors.As(f.Err, &tooLarge) || tooLarge.Limit != limit || tooLarge.Size != int64(len(files["big.nomad"])) {
						t.Fatalf("big.nomad: Err = %v, want a FileTooLargeError with limit %d", f.Err, limit)
					}
					want := fmt.Sprintf("big.nomad: %d bytes, over the %d-byte limit for a job file", len(files["big.nomad"]), limit)
					if f.Err.Error() != want {
						t.Errorf("error %q, want %q", f.Err, want)
					}
				default:
					if f.Err != nil {
						t.Errorf("%s: %v", f.Path, f.Err)
					}
				}
			}
			if !set.Failed() {
				t.Error("a set with an oversized file must count as failed, so nothing is pruned")
			}
			for _, src := range p.parsed() {
				if strings.HasPrefix(src, "job = big") {
					t.Error("the oversized file was sent to the parser")
				}
			}
		})
	}
}

func TestLoader_DefaultSizeCapIsNomadsSourceLimit(t *testing.T) {
	big := "job = big\n" + strings.Repeat("#", int(DefaultMaxFileSize))
	tree := &sizedTree{fakeTree: &fakeTree{rev: "c1", files: map[string]string{"big.nomad": big}}, t: t, limit: DefaultMaxFileSize}
	set, err := (&Loader{Parser: &fakeParser{}}).Load(context.Background(), tree)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Files[0].Err; err == nil || !strings.Contains(err.Error(), "1000000-byte limit") {
		t.Errorf("Err = %v, want the default 1000000-byte limit named", err)
	}
}

func TestLoader_OversizedVarFileFailsTheLoad(t *testing.T) {
	const limit = 32
	files := map[string]string{
		"a.nomad":       "job = a",
		"vars/big.hcl":  "image = \"" + strings.Repeat("x", limit) + "\"\n",
		"vars/fine.hcl": "zone = \"eu\"\n",
	}
	for _, tc := range []struct {
		name string
		tree Tree
	}{
		{"sizer", &sizedTree{fakeTree: &fakeTree{rev: "c1", files: files}, t: t, limit: limit}},
		{"plain", &fakeTree{rev: "c1", files: files}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakeParser{}
			l := &Loader{Parser: p, MaxFileSize: limit, Vars: Variables{Files: []string{"vars/fine.hcl", "vars/big.hcl"}}}
			_, err := l.Load(context.Background(), tc.tree)
			var tooLarge *FileTooLargeError
			if !errors.As(err, &tooLarge) || tooLarge.Path != "vars/big.hcl" || tooLarge.Kind != "var file" {
				t.Fatalf("Load = %v, want a FileTooLargeError for vars/big.hcl", err)
			}
			// Every job needs the variables: the load stalls until a
			// new commit shrinks the file.
			if st, ok := failure.StallOf(err); !ok || st.Reason() != "var file too large (shrink it in a new commit)" {
				t.Errorf("Load = %#v, want a stall naming the fix", err)
			}
			if !strings.Contains(err.Error(), "vars/big.hcl") || !strings.Contains(err.Error(), fmt.Sprintf("%d-byte limit", limit)) {
				t.Errorf("error %q does not name the file and the limit", err)
			}
			if p.count() != 0 {
				t.Errorf("%d parse calls with a var file refused", p.count())
			}
		})
	}
}

func TestLoader_LoadFileRefusesAnOversizedFile(t *testing.T) {
	const limit = 16
	tree := &sizedTree{fakeTree: &fakeTree{rev: "c1", files: map[string]string{"big.nomad": "job = big\n" + strings.Repeat("x", limit)}}, t: t, limit: limit}
	_, err := (&Loader{Parser: &fakeParser{}, MaxFileSize: limit}).LoadFile(context.Background(), tree, "big.nomad")
	var tooLarge *FileTooLargeError
	if !errors.As(err, &tooLarge) {
		t.Errorf("LoadFile = %v, want a FileTooLargeError", err)
	}
}

func TestLoader_ReportsSymlinkedJobFilesAsSkipped(t *testing.T) {
	tree := &sizedTree{
		fakeTree: &fakeTree{rev: "c1", files: map[string]string{"prod/web.nomad": "job = web"}},
		t:        t,
		limit:    DefaultMaxFileSize,
		symlinks: []string{"prod/link.nomad", "prod/README.md", "staging/api.nomad", "prod/z.nomad.hcl"},
	}
	l := &Loader{Parser: &fakeParser{}, Selector: Selector{Dirs: []string{"prod"}}}
	set, err := l.Load(context.Background(), tree)
	if err != nil {
		t.Fatal(err)
	}
	want := []Skipped{
		{Path: "prod/link.nomad", Reason: skippedSymlink},
		{Path: "prod/z.nomad.hcl", Reason: skippedSymlink},
	}
	if !slices.Equal(set.Skipped, want) {
		t.Errorf("Skipped = %v, want %v (only symlinks the selector matches)", set.Skipped, want)
	}
	if got := paths(set); !slices.Equal(got, []string{"prod/web.nomad"}) {
		t.Errorf("files = %v", got)
	}
	// The same commit again is the same set: a caller that reports a set's
	// Skipped when the set changes reports each symlink once.
	again, err := l.Load(context.Background(), tree)
	if err != nil {
		t.Fatal(err)
	}
	if again != set {
		t.Error("a load of the same commit returned a new set; its Skipped would be reported again")
	}
}
