package source

import (
	"strings"
	"testing"
)

func TestRefName_NamesTheFollowedRef(t *testing.T) {
	o := newOrigin(t, "trunk")
	first := o.commit(map[string]string{"app.hcl": "v1"})
	o.git("tag", "-a", "-m", "annotated", "v1")
	o.git("branch", "release")
	o.git("branch", "dup")
	o.git("tag", "dup")

	dataDir := t.TempDir()
	for _, tt := range []struct {
		name, ref, want string
	}{
		{"default branch", "", "refs/heads/trunk"},
		{"branch", "release", "refs/heads/release"},
		{"tag", "v1", "refs/tags/v1"},
		{"branch before tag", "dup", "refs/heads/dup"},
		{"commit", strings.ToUpper(first), first},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mustOpen(t, Options{URL: o.dir, Ref: tt.ref, DataDir: dataDir})
			before := ""
			if isFullSHA(tt.want) {
				before = tt.want // a commit needs no fetch to be known
			}
			if got := r.RefName(); got != before {
				t.Errorf("before the first fetch RefName() = %q, want %q", got, before)
			}
			mustFetch(t, r)
			if got := r.RefName(); got != tt.want {
				t.Errorf("RefName() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRefName_FollowsTheRemotesDefaultBranch(t *testing.T) {
	o := newOrigin(t, "trunk")
	o.commit(map[string]string{"a": "trunk"})
	o.git("branch", "main")
	r := mustOpen(t, Options{URL: o.dir})
	mustFetch(t, r)
	if got := r.RefName(); got != "refs/heads/trunk" {
		t.Fatalf("RefName() = %q", got)
	}
	o.git("symbolic-ref", "HEAD", "refs/heads/main")
	mustFetch(t, r)
	if got := r.RefName(); got != "refs/heads/main" {
		t.Errorf("after the remote HEAD moved RefName() = %q, want refs/heads/main", got)
	}
}
