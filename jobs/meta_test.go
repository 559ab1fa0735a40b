package jobs

import (
	"maps"
	"testing"

	"github.com/hashicorp/nomad/api"
)

func mustFingerprint(t *testing.T, j *api.Job) string {
	t.Helper()
	fp, err := Fingerprint(j)
	if err != nil {
		t.Fatalf("Fingerprint: %v", err)
	}
	return fp
}

func withMeta(j *api.Job, meta map[string]string) *api.Job {
	j.Meta = meta
	return j
}

func TestFingerprint_IgnoresDroverMeta(t *testing.T) {
	tests := []struct {
		name string
		a, b *api.Job
	}{
		{
			name: "drover keys next to user keys",
			a:    withMeta(testJob("web", "default", "nginx:1"), map[string]string{"team": "web"}),
			b: withMeta(testJob("web", "default", "nginx:1"), map[string]string{
				"team": "web", MetaCommit: "abc", MetaManaged: "true", MetaPath: "web.nomad",
				MetaFingerprint: "123", MetaInstance: "drover",
			}),
		},
		{
			name: "only drover keys",
			a:    testJob("web", "default", "nginx:1"),
			b:    withMeta(testJob("web", "default", "nginx:1"), map[string]string{MetaCommit: "abc", MetaManaged: "true"}),
		},
		{
			name: "a stamped job",
			a:    testJob("web", "default", "nginx:1"),
			b:    Stamp(testJob("web", "default", "nginx:1"), Ownership{Commit: "c", Path: "p", Fingerprint: "f", Instance: "i"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, b := mustFingerprint(t, tt.a), mustFingerprint(t, tt.b); a != b {
				t.Errorf("fingerprints differ: %s vs %s", a, b)
			}
		})
	}
}

func TestFingerprint_ChangesWithSpec(t *testing.T) {
	base := mustFingerprint(t, testJob("web", "default", "nginx:1"))
	tests := []struct {
		name string
		job  *api.Job
	}{
		{name: "image", job: testJob("web", "default", "nginx:2")},
		{name: "namespace", job: testJob("web", "prod", "nginx:1")},
		{name: "id", job: testJob("api", "default", "nginx:1")},
		{name: "user meta", job: withMeta(testJob("web", "default", "nginx:1"), map[string]string{"team": "web"})},
		{name: "meta key that only starts like drover's", job: withMeta(testJob("web", "default", "nginx:1"), map[string]string{"drover": "x"})},
		{name: "count", job: func() *api.Job {
			j := testJob("web", "default", "nginx:1")
			j.TaskGroups[0].Count = ptr(2)
			return j
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustFingerprint(t, tt.job); got == base {
				t.Errorf("fingerprint %s did not change", got)
			}
		})
	}
}

func TestFingerprint_StableAcrossCalls(t *testing.T) {
	meta := map[string]string{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		meta[k] = k
	}
	first := mustFingerprint(t, withMeta(testJob("web", "default", "nginx:1"), meta))
	for range 20 {
		// A fresh job each time: equal specs, not one pointer.
		if got := mustFingerprint(t, withMeta(testJob("web", "default", "nginx:1"), maps.Clone(meta))); got != first {
			t.Fatalf("fingerprint %s, then %s", first, got)
		}
	}
	if len(first) != 32 {
		t.Errorf("fingerprint %q: want 32 hex digits", first)
	}
}

func TestFingerprint_DoesNotModifyInput(t *testing.T) {
	j := withMeta(testJob("web", "default", "nginx:1"), map[string]string{"team": "web", MetaCommit: "abc"})
	mustFingerprint(t, j)
	if len(j.Meta) != 2 || j.Meta[MetaCommit] != "abc" {
		t.Errorf("Meta after Fingerprint = %v", j.Meta)
	}
}

func TestStamp_SetsOwnershipWithoutModifyingInput(t *testing.T) {
	job := withMeta(testJob("web", "default", "nginx:1"), map[string]string{"team": "web", MetaCommit: "old"})
	o := Ownership{Commit: "new", Path: "apps/web.nomad", Fingerprint: "fp", Instance: "blue"}

	got := Stamp(job, o)

	want := map[string]string{
		"team":          "web",
		MetaManaged:     "true",
		MetaCommit:      "new",
		MetaPath:        "apps/web.nomad",
		MetaFingerprint: "fp",
		MetaInstance:    "blue",
	}
	if !maps.Equal(got.Meta, want) {
		t.Errorf("stamped Meta = %v, want %v", got.Meta, want)
	}
	if !maps.Equal(job.Meta, map[string]string{"team": "web", MetaCommit: "old"}) {
		t.Errorf("input Meta modified: %v", job.Meta)
	}
	if got == job || *got.ID != "web" {
		t.Errorf("Stamp returned %p (input %p) with ID %v: want a copy of the job", got, job, got.ID)
	}

	// No commit given: whatever the job carries stays.
	got = Stamp(job, Ownership{Path: "p", Fingerprint: "f", Instance: "i"})
	if got.Meta[MetaCommit] != "old" {
		t.Errorf("Stamp without commit: %s = %q, want the existing old", MetaCommit, got.Meta[MetaCommit])
	}

	// A job without meta.
	got = Stamp(testJob("web", "default", "x"), o)
	if got.Meta[MetaManaged] != "true" || got.Meta[MetaInstance] != "blue" {
		t.Errorf("Stamp of a job without meta: %v", got.Meta)
	}
}

func TestOwnershipOf(t *testing.T) {
	owned := map[string]string{
		MetaManaged: "true", MetaInstance: "drover", MetaCommit: "c",
		MetaPath: "web.nomad", MetaFingerprint: "fp",
	}
	with := func(k, v string) map[string]string {
		m := maps.Clone(owned)
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		meta map[string]string
		ok   bool
	}{
		{name: "owned", meta: owned, ok: true},
		{name: "no meta", meta: nil},
		{name: "managed false", meta: with(MetaManaged, "false")},
		{name: "managed missing", meta: func() map[string]string { m := maps.Clone(owned); delete(m, MetaManaged); return m }()},
		{name: "other instance", meta: with(MetaInstance, "other")},
		{name: "no instance", meta: with(MetaInstance, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, ok := OwnershipOf(tt.meta, "drover")
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			want := Ownership{}
			if tt.ok {
				want = Ownership{Commit: "c", Path: "web.nomad", Fingerprint: "fp", Instance: "drover"}
			}
			if o != want {
				t.Errorf("Ownership = %+v, want %+v", o, want)
			}
		})
	}
}
