package jobs

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

func paths(s *Set) []string {
	var out []string
	for _, f := range s.Files {
		out = append(out, f.Path)
	}
	return out
}

func TestLoader_ParsesEverySelectedFile(t *testing.T) {
	tree := &fakeTree{rev: "abc123", files: map[string]string{
		"web.nomad":          "job = web\nimage = nginx",
		"prod/api.nomad.hcl": "job = api\nimage = api:1",
		"prod/db/db.nomad":   "job = db\nimage = postgres",
		"README.md":          "job = readme",
		"vars/prod.hcl":      "image = \"x\"\n",
	}}
	p := &fakeParser{}
	l := &Loader{
		Parser: p,
		Vars:   Variables{Files: []string{"vars/prod.hcl"}, Flags: map[string]string{"zone": "eu"}},
	}
	set, err := l.Load(context.Background(), tree)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if set.Revision != "abc123" {
		t.Errorf("Revision = %q, want abc123", set.Revision)
	}
	wantPaths := []string{"prod/api.nomad.hcl", "prod/db/db.nomad", "web.nomad"}
	if got := paths(set); !slices.Equal(got, wantPaths) {
		t.Fatalf("paths = %q, want %q", got, wantPaths)
	}
	if got := p.count(); got != 3 {
		t.Errorf("parse calls = %d, want 3", got)
	}
	wantVars := "image = \"x\"\nzone = \"eu\"\n"
	for _, c := range p.calls {
		if c.Variables != wantVars {
			t.Errorf("parse request variables = %q, want %q", c.Variables, wantVars)
		}
	}
	for _, f := range set.Files {
		if f.Err != nil {
			t.Errorf("%s: unexpected error %v", f.Path, f.Err)
			continue
		}
		if f.Job == nil || f.Fingerprint == "" {
			t.Errorf("%s: job %v, fingerprint %q: want both set", f.Path, f.Job, f.Fingerprint)
		}
		if string(f.Source) != tree.files[f.Path] {
			t.Errorf("%s: Source = %q, want the file's content", f.Path, f.Source)
		}
		sub := f.Submission
		if sub == nil || sub.Source != tree.files[f.Path] || sub.Format != "hcl2" ||
			sub.Variables != "image = \"x\"\n\n" || sub.VariableFlags["zone"] != "eu" {
			t.Errorf("%s: Submission = %+v", f.Path, sub)
		}
	}
	if set.Failed() {
		t.Error("Failed() = true for a clean set")
	}
}

func TestLoader_DefaultsNamespaceOnlyWhenFileSetsNone(t *testing.T) {
	tests := []struct {
		name      string
		source    string
		loaderNS  string
		namespace string
	}{
		{name: "no namespace anywhere", source: "job = web", namespace: "default"},
		{name: "loader namespace", source: "job = web", loaderNS: "team", namespace: "team"},
		{name: "file namespace wins", source: "job = web\nnamespace = prod", loaderNS: "team", namespace: "prod"},
		{name: "file namespace without loader namespace", source: "job = web\nnamespace = prod", namespace: "prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &Loader{Parser: &fakeParser{}, Namespace: tt.loaderNS}
			set, err := l.Load(context.Background(), &fakeTree{files: map[string]string{"web.nomad": tt.source}})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			f := set.Files[0]
			if f.Err != nil {
				t.Fatalf("file error: %v", f.Err)
			}
			if got := f.Key(); got != (Key{Namespace: tt.namespace, ID: "web"}) {
				t.Errorf("Key() = %v, want %s/web", got, tt.namespace)
			}
		})
	}
}

func TestLoader_CachesUnchangedFiles(t *testing.T) {
	tree := &fakeTree{files: map[string]string{
		"a.nomad": "job = a\nimage = a:1",
		"b.nomad": "job = b\nimage = b:1",
	}}
	p := &fakeParser{}
	l := &Loader{Parser: p}
	ctx := context.Background()

	first, err := l.Load(ctx, tree)
	if err != nil {
		t.Fatalf("first Load: %v", err)
	}
	if got := p.count(); got != 2 {
		t.Fatalf("first Load parse calls = %d, want 2", got)
	}

	second, err := l.Load(ctx, tree)
	if err != nil {
		t.Fatalf("second Load: %v", err)
	}
	if got := p.count(); got != 2 {
		t.Errorf("unchanged tree: parse calls went from 2 to %d, want no new calls", got)
	}
	for i := range first.Files {
		if first.Files[i].Fingerprint != second.Files[i].Fingerprint {
			t.Errorf("%s: fingerprint changed across cached loads", first.Files[i].Path)
		}
	}

	// Changing the first file makes the later cache hit run while its
	// parse is in flight (the race detector watches that path).
	tree.files["a.nomad"] = "job = a\nimage = a:2"
	third, err := l.Load(ctx, tree)
	if err != nil {
		t.Fatalf("third Load: %v", err)
	}
	if got := p.count(); got != 3 {
		t.Fatalf("one changed file: parse calls = %d, want 3", got)
	}
	if last := p.calls[2].JobHCL; last != "job = a\nimage = a:2" {
		t.Errorf("re-parsed %q, want the changed a.nomad", last)
	}
	if third.Files[0].Fingerprint == second.Files[0].Fingerprint {
		t.Error("changed file kept its old fingerprint")
	}
	if third.Files[1] != second.Files[1] {
		t.Error("unchanged b.nomad was not served from the cache")
	}

	// Variables are part of what a parse depends on.
	l.Vars.Flags = map[string]string{"zone": "eu"}
	if _, err := l.Load(ctx, tree); err != nil {
		t.Fatalf("fourth Load: %v", err)
	}
	if got := p.count(); got != 5 {
		t.Errorf("changed variables: parse calls = %d, want 5", got)
	}
}

func TestLoader_TransientParseErrorFailsLoadAndIsNotCached(t *testing.T) {
	tree := &fakeTree{files: map[string]string{"a.nomad": "job = a"}}
	p := &fakeParser{}
	l := &Loader{Parser: p}
	if _, err := l.Load(context.Background(), tree); err != nil {
		t.Fatal(err)
	}
	// A file whose parse fails for reasons outside it (a failure stops the
	// load, cancelling parses in flight) joins a cached one.
	tree.files["b.nomad"] = "fail = connection refused"
	for range 2 {
		set, err := l.Load(context.Background(), tree)
		if err == nil {
			t.Fatalf("Load succeeded with %d files, want an error", len(set.Files))
		}
		if !strings.Contains(err.Error(), "b.nomad") || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("error %q should name the file and the cause", err)
		}
	}
	// a.nomad stays cached; the failed parse is not cached, but retried.
	want := []string{"fail = connection refused", "fail = connection refused", "job = a"}
	if got := p.parsed(); !slices.Equal(got, want) {
		t.Errorf("parse calls = %q, want %q", got, want)
	}
}

func TestLoader_CancelledContextFailsLoad(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l := &Loader{Parser: &fakeParser{}}
	_, err := l.Load(ctx, &fakeTree{files: map[string]string{"a.nomad": "job = a"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Load = %v, want context.Canceled", err)
	}
}

func TestLoader_RecordsRejectedFileOnTheFile(t *testing.T) {
	diag := `Failed to parse job: input.hcl:3,5-11: Unsupported argument; An argument named "imagee" is not expected here.`
	client, p := nomadParseServer(t, map[string]rejection{
		"imagee": {status: http.StatusBadRequest, body: diag},
	})
	tree := &fakeTree{files: map[string]string{
		"jobs/bad.nomad":  "job = bad\nimagee = x",
		"jobs/good.nomad": "job = good\nimage = x",
	}}
	l := &Loader{Parser: apiParser{client}}
	set, err := l.Load(context.Background(), tree)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	bad, good := set.Files[0], set.Files[1]
	if good.Err != nil || good.Job == nil {
		t.Errorf("good file: err %v, job %v; a broken file must not stop the others", good.Err, good.Job)
	}
	var pe *ParseError
	if !errors.As(bad.Err, &pe) {
		t.Fatalf("bad file error = %#v, want a *ParseError", bad.Err)
	}
	if pe.Path != "jobs/bad.nomad" || pe.Line != 3 {
		t.Errorf("ParseError path %q line %d, want jobs/bad.nomad line 3", pe.Path, pe.Line)
	}
	want := `jobs/bad.nomad:3,5-11: Unsupported argument; An argument named "imagee" is not expected here.`
	if bad.Err.Error() != want {
		t.Errorf("error =\n  %s\nwant\n  %s", bad.Err, want)
	}
	if !set.Failed() {
		t.Error("Failed() = false with a rejected file")
	}

	// A rejection is a verdict on the file: cached like a success.
	calls := p.count()
	if _, err := l.Load(context.Background(), tree); err != nil {
		t.Fatalf("second Load: %v", err)
	}
	if p.count() != calls {
		t.Errorf("second Load made %d parse calls, want 0", p.count()-calls)
	}
}

func TestLoader_ServerErrorIsTransient(t *testing.T) {
	client, _ := nomadParseServer(t, map[string]rejection{
		"job": {status: http.StatusInternalServerError, body: "rpc error: no leader"},
	})
	l := &Loader{Parser: apiParser{client}}
	_, err := l.Load(context.Background(), &fakeTree{files: map[string]string{"a.nomad": "job = a"}})
	if err == nil || !strings.Contains(err.Error(), "no leader") {
		t.Fatalf("Load = %v, want the server error", err)
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		t.Errorf("a 500 was blamed on the file: %v", pe)
	}
}

func TestParseError_Error(t *testing.T) {
	tests := []struct {
		name string
		err  ParseError
		want string
	}{
		{
			name: "message already names the file",
			err:  ParseError{Path: "a.nomad", Line: 2, Msg: "a.nomad:2,1-3: Invalid block"},
			want: "a.nomad:2,1-3: Invalid block",
		},
		{
			name: "message without position gets the path",
			err:  ParseError{Path: "a.nomad", Msg: "Job spec is empty"},
			want: "a.nomad: Job spec is empty",
		},
		{
			name: "a file whose name prefixes another",
			err:  ParseError{Path: "a.nomad", Msg: "a.nomad.hcl:1,1-2: x"},
			want: "a.nomad: a.nomad.hcl:1,1-2: x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoader_DuplicateJobIDsFailBothFiles(t *testing.T) {
	tree := &fakeTree{files: map[string]string{
		"a.nomad": "job = web\nimage = a",
		"b.nomad": "job = web\nimage = b",
		"c.nomad": "job = other",
		// Same ID in another namespace is another job.
		"d.nomad": "job = web\nnamespace = prod",
	}}
	l := &Loader{Parser: &fakeParser{}}
	set, err := l.Load(context.Background(), tree)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, f := range set.Files[:2] {
		if f.Err == nil {
			t.Errorf("%s: no error, want a duplicate error", f.Path)
			continue
		}
		for _, p := range []string{"a.nomad", "b.nomad", "default/web"} {
			if !strings.Contains(f.Err.Error(), p) {
				t.Errorf("%s: error %q does not name %s", f.Path, f.Err, p)
			}
		}
	}
	for _, f := range set.Files[2:] {
		if f.Err != nil {
			t.Errorf("%s: unexpected error %v", f.Path, f.Err)
		}
	}

	// Renaming one job fixes both files, even though a.nomad is unchanged
	// and comes from the cache.
	tree.files["b.nomad"] = "job = web2\nimage = b"
	set, err = l.Load(context.Background(), tree)
	if err != nil {
		t.Fatalf("second Load: %v", err)
	}
	for _, f := range set.Files {
		if f.Err != nil {
			t.Errorf("after the fix, %s: %v", f.Path, f.Err)
		}
	}
}

func TestLoader_FileErrors(t *testing.T) {
	tree := &fakeTree{
		files: map[string]string{
			"empty.nomad":  "image = x",
			"locked.nomad": "job = locked",
			"ok.nomad":     "job = ok",
		},
		readErr: map[string]error{"locked.nomad": errors.New("permission denied")},
	}
	l := &Loader{Parser: &fakeParser{}}
	set, err := l.Load(context.Background(), tree)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := map[string]string{
		"empty.nomad":  "empty.nomad: the file declares no job",
		"locked.nomad": "locked.nomad: read: permission denied",
	}
	for _, f := range set.Files {
		w, bad := want[f.Path]
		switch {
		case bad && (f.Err == nil || f.Err.Error() != w):
			t.Errorf("%s: error %v, want %q", f.Path, f.Err, w)
		case bad && f.Job != nil:
			t.Errorf("%s: Job set alongside an error", f.Path)
		case !bad && f.Err != nil:
			t.Errorf("%s: unexpected error %v", f.Path, f.Err)
		}
	}
}

func TestLoader_TreeErrorsFailLoad(t *testing.T) {
	tests := []struct {
		name string
		tree *fakeTree
		vars Variables
		want string
	}{
		{
			name: "listing fails",
			tree: &fakeTree{rev: "abc", listErr: errors.New("bad object")},
			want: "list files at abc: bad object",
		},
		{
			name: "var file broken",
			tree: &fakeTree{files: map[string]string{"v.hcl": "x = ", "a.nomad": "job = a"}},
			vars: Variables{Files: []string{"v.hcl"}},
			want: "v.hcl:1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeParser{}
			_, err := (&Loader{Parser: p, Vars: tt.vars}).Load(context.Background(), tt.tree)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want an error containing %q", err, tt.want)
			}
			if p.count() != 0 {
				t.Errorf("%d parse calls, want none", p.count())
			}
		})
	}
}

func TestSet_Failed(t *testing.T) {
	ok := &File{Path: "a.nomad"}
	bad := &File{Path: "b.nomad", Err: errors.New("broken")}
	tests := []struct {
		name  string
		files []*File
		want  bool
	}{
		{name: "empty", want: false},
		{name: "all good", files: []*File{ok}, want: false},
		{name: "one broken", files: []*File{ok, bad}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (&Set{Files: tt.files}).Failed(); got != tt.want {
				t.Errorf("Failed() = %v, want %v", got, tt.want)
			}
		})
	}
}

// diffTree is a commit of a fakeTree history that can name the paths
// changed since an earlier commit, and counts what the loader reads.
type diffTree struct {
	fakeTree
	changed   map[string][]string // since revision → paths
	diffErr   error
	reads     []string
	listings  int
	diffAsked []string
}

func (t *diffTree) ChangedSince(rev string) ([]string, error) {
	t.diffAsked = append(t.diffAsked, rev)
	return t.changed[rev], t.diffErr
}

func (t *diffTree) Files() ([]string, error) {
	t.listings++
	return t.fakeTree.Files()
}

func (t *diffTree) ReadFile(p string) ([]byte, error) {
	t.reads = append(t.reads, p)
	return t.fakeTree.ReadFile(p)
}

func commitTree(rev string, files map[string]string, changed map[string][]string) *diffTree {
	return &diffTree{fakeTree: fakeTree{rev: rev, files: files}, changed: changed}
}

func TestLoader_SameCommitReadsNothing(t *testing.T) {
	files := map[string]string{"a.nomad": "job = a", "b.nomad": "job = b"}
	p := &fakeParser{}
	l := &Loader{Parser: p}
	first, err := l.Load(context.Background(), commitTree("c1", files, nil))
	if err != nil {
		t.Fatal(err)
	}
	again := commitTree("c1", files, nil)
	second, err := l.Load(context.Background(), again)
	if err != nil {
		t.Fatal(err)
	}
	if second != first || p.count() != 2 || again.listings != 0 || len(again.reads) != 0 || len(again.diffAsked) != 0 {
		t.Errorf("same commit: same set %v, parses %d, listings %d, reads %q, diffs %q",
			second == first, p.count(), again.listings, again.reads, again.diffAsked)
	}

	// Settings are part of the result: a changed flag loads again.
	l.Vars.Flags = map[string]string{"zone": "eu"}
	third, err := l.Load(context.Background(), commitTree("c1", files, nil))
	if err != nil {
		t.Fatal(err)
	}
	if third == first || p.count() != 4 {
		t.Errorf("changed --var: same set %v, parses %d, want a new set and 4 parses", third == first, p.count())
	}
}

func TestLoader_NewCommitReadsOnlyChangedFiles(t *testing.T) {
	p := &fakeParser{}
	l := &Loader{Parser: p}
	ctx := context.Background()
	if _, err := l.Load(ctx, commitTree("c1", map[string]string{
		"a.nomad": "job = a", "b.nomad": "job = b", "c.nomad": "job = c",
	}, nil)); err != nil {
		t.Fatal(err)
	}
	c2 := commitTree("c2", map[string]string{
		"a.nomad": "job = a\nimage = a:2", "c.nomad": "job = c", "d.nomad": "job = d",
	}, map[string][]string{"c1": {"a.nomad", "b.nomad", "d.nomad", "README.md"}})
	set, err := l.Load(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(c2.reads)
	if got := strings.Join(c2.reads, ","); got != "a.nomad,d.nomad" {
		t.Errorf("read %s, want only the changed job files a.nomad,d.nomad", got)
	}
	if p.count() != 5 {
		t.Errorf("parse calls %d, want 3 + the 2 changed files", p.count())
	}
	var paths []string
	for _, f := range set.Files {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, ","); got != "a.nomad,c.nomad,d.nomad" || set.Revision != "c2" {
		t.Errorf("set %s at %s, want a,c,d at c2", got, set.Revision)
	}
	if img := set.Files[0].Job.TaskGroups[0].Tasks[0].Config["image"]; img != "a:2" {
		t.Errorf("a.nomad image %v, want the new a:2", img)
	}
}

func TestLoader_ChangedVarFileReparsesEveryJob(t *testing.T) {
	p := &fakeParser{}
	l := &Loader{Parser: p, Vars: Variables{Files: []string{"vars.hcl"}}}
	ctx := context.Background()
	if _, err := l.Load(ctx, commitTree("c1", map[string]string{
		"a.nomad": "job = a", "b.nomad": "job = b", "vars.hcl": `zone = "eu"`,
	}, nil)); err != nil {
		t.Fatal(err)
	}
	c2 := commitTree("c2", map[string]string{
		"a.nomad": "job = a", "b.nomad": "job = b", "vars.hcl": `zone = "us"`,
	}, map[string][]string{"c1": {"vars.hcl"}})
	if _, err := l.Load(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if p.count() != 4 {
		t.Errorf("parse calls %d, want both jobs parsed again with the new variables", p.count())
	}
	if last := p.calls[3].Variables; !strings.Contains(last, `"us"`) {
		t.Errorf("re-parsed with variables %q, want the new var file", last)
	}
}

func TestLoader_FailedDiffOrLoadFallsBackToReadingEverything(t *testing.T) {
	p := &fakeParser{}
	l := &Loader{Parser: p}
	ctx := context.Background()
	files := map[string]string{"a.nomad": "job = a", "b.nomad": "job = b"}
	if _, err := l.Load(ctx, commitTree("c1", files, nil)); err != nil {
		t.Fatal(err)
	}
	// A force-push took c1 away: the diff fails, every file is read (and,
	// unchanged in content, still not parsed again).
	c2 := commitTree("c2", files, nil)
	c2.diffErr = errors.New("object not found")
	if _, err := l.Load(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if len(c2.reads) != 2 || p.count() != 2 {
		t.Errorf("after a failed diff: reads %q, parses %d; want both read, none parsed", c2.reads, p.count())
	}

	// A load that fails half-way must not be diffed against: c3 changes
	// a.nomad, its parse fails transiently; c4 puts a.nomad back to c2's
	// content, so c2..c4 shows no change, yet the cache saw c3's attempt.
	c3 := commitTree("c3", map[string]string{"a.nomad": "job = a\nfail = nomad down", "b.nomad": "job = b"},
		map[string][]string{"c2": {"a.nomad"}})
	if _, err := l.Load(ctx, c3); err == nil {
		t.Fatal("c3: transient parse failure did not fail the load")
	}
	c4 := commitTree("c4", map[string]string{"a.nomad": "job = a\nimage = a:4", "b.nomad": "job = b"},
		map[string][]string{"c2": {}, "c3": {"a.nomad"}})
	set, err := l.Load(ctx, c4)
	if err != nil {
		t.Fatal(err)
	}
	if len(c4.diffAsked) != 0 || len(c4.reads) != 2 {
		t.Errorf("after a failed load: diffs %q, reads %q; want a full read", c4.diffAsked, c4.reads)
	}
	if img := set.Files[0].Job.TaskGroups[0].Tasks[0].Config["image"]; img != "a:4" {
		t.Errorf("a.nomad image %v, want a:4", img)
	}
}
