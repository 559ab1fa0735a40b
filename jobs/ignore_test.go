package jobs

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

func TestParseIgnore_EveryForm(t *testing.T) {
	got, err := ParseIgnore(" meta.team.owner, group.web.count,group.*.meta.version , group.web.task.app.config.image," +
		"group.*.task.*.env.TOKEN_PATH, group.web.task.app.meta.a.b,,")
	if err != nil {
		t.Fatal(err)
	}
	want := []IgnorePath{
		{Kind: IgnoreJobMeta, Key: "team.owner"},
		{Kind: IgnoreCount, Group: "web"},
		{Kind: IgnoreGroupMeta, Group: "*", Key: "version"},
		{Kind: IgnoreTaskConfig, Group: "web", Task: "app", Key: "image"},
		{Kind: IgnoreTaskEnv, Group: "*", Task: "*", Key: "TOKEN_PATH"},
		{Kind: IgnoreTaskMeta, Group: "web", Task: "app", Key: "a.b"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseIgnore =\n%+v\nwant\n%+v", got, want)
	}
	var back []string
	for _, p := range got {
		back = append(back, p.String())
	}
	if s := strings.Join(back, ","); s != "meta.team.owner,group.web.count,group.*.meta.version,group.web.task.app.config.image,"+
		"group.*.task.*.env.TOKEN_PATH,group.web.task.app.meta.a.b" {
		t.Errorf("String() round trip = %s", s)
	}
}

func TestParseIgnore_RefusesUnknownPaths(t *testing.T) {
	for _, in := range []string{
		"count", "meta.", "meta", "group.web", "group.web.counts", "group..count", "group.web.meta.",
		"group.web.task.app", "group.web.task.app.config.", "group.web.task..env.X", "group.web.task.app.vars.X",
		"job.meta.x", "meta.team, group.web.bogus", "meta.drover.commit",
	} {
		t.Run(in, func(t *testing.T) {
			if got, err := ParseIgnore(in); err == nil {
				t.Fatalf("ParseIgnore(%q) = %+v, want an error", in, got)
			}
		})
	}
	_, err := ParseIgnore("meta.team, group.web.bogus")
	if err == nil || !strings.Contains(err.Error(), `"group.web.bogus"`) || !strings.Contains(err.Error(), "group.<g>.count") {
		t.Errorf("error %v; want it to name the bad path and the syntax", err)
	}
}

func TestParseIgnore_EmptyIgnoresNothing(t *testing.T) {
	got, err := ParseIgnore(" , ")
	if err != nil || len(got) != 0 {
		t.Errorf("ParseIgnore of blanks = %v, %v; want nothing", got, err)
	}
}

func TestScales(t *testing.T) {
	f, tr := false, true
	for _, tt := range []struct {
		name    string
		scaling *api.ScalingPolicy
		want    bool
	}{
		{"no block", nil, false},
		{"enabled unset means enabled", &api.ScalingPolicy{Max: ptr(int64(3))}, true},
		{"enabled", &api.ScalingPolicy{Enabled: &tr, Type: "horizontal"}, true},
		{"disabled", &api.ScalingPolicy{Enabled: &f}, false},
		{"vertical is not a count", &api.ScalingPolicy{Enabled: &tr, Type: "vertical_cpu"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Scales(&api.TaskGroup{Name: ptr("web"), Scaling: tt.scaling}); got != tt.want {
				t.Errorf("Scales = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoader_BadIgnorePathFailsOnlyItsFile(t *testing.T) {
	tree := &fakeTree{rev: "abc123", files: map[string]string{
		"good.nomad": "job = good\nimage = nginx",
		"bad.nomad":  "job = bad\nimage = nginx\nignore = meta.team, group.web.bogus",
		"ign.nomad":  "job = ign\nimage = nginx\nignore = meta.team",
	}}
	set, err := (&Loader{Parser: &fakeParser{}}).Load(context.Background(), tree)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]*File{}
	for _, f := range set.Files {
		byPath[f.Path] = f
	}
	bad := byPath["bad.nomad"]
	if bad.Err == nil || !strings.Contains(bad.Err.Error(), "bad.nomad") || !strings.Contains(bad.Err.Error(), MetaIgnore) ||
		!strings.Contains(bad.Err.Error(), "group.web.bogus") {
		t.Errorf("bad file error = %v; want the file, the meta key and the path named", bad.Err)
	}
	if byPath["good.nomad"].Err != nil || byPath["ign.nomad"].Err != nil {
		t.Errorf("other files failed: %v, %v", byPath["good.nomad"].Err, byPath["ign.nomad"].Err)
	}
	if ig := byPath["ign.nomad"].Ignore; len(ig) != 1 || ig[0] != (IgnorePath{Kind: IgnoreJobMeta, Key: "team"}) {
		t.Errorf("Ignore = %+v", ig)
	}
}
