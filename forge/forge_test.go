package forge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/forge"
	"github.com/drover-dev/drover/forge/forgetest"
	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	"github.com/hashicorp/nomad/api"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func noProblems(t *testing.T, s *forgetest.Server) {
	t.Helper()
	for _, p := range s.Problems() {
		t.Errorf("fake saw a bad request: %s", p)
	}
}

type provider struct {
	name   string
	repo   string
	number int
	fake   func(t *testing.T) *forgetest.Server
}

func providers() []provider {
	return []provider{
		{"github", "acme/deploys", 7, func(t *testing.T) *forgetest.Server { return forgetest.NewGitHub(t, "acme/deploys", "ghp-secret") }},
		{"gitlab", "acme/infra/deploys", 9, func(t *testing.T) *forgetest.Server {
			return forgetest.NewGitLab(t, "acme/infra/deploys", "glpat-secret")
		}},
	}
}

func client(t *testing.T, p provider, s *forgetest.Server) forge.Forge {
	t.Helper()
	token := map[string]string{"github": "ghp-secret", "gitlab": "glpat-secret"}[p.name]
	f, err := forge.New(p.name, forge.Options{Repo: p.repo, Token: token, APIURL: s.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestUpsertComment_CreatesOnceThenEditsTheMarkedComment(t *testing.T) {
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			s := p.fake(t)
			f := client(t, p, s)
			s.AddComment(p.number, "LGTM")
			s.AddComment(p.number, forge.Marker("other")+"\nanother drover's plan")
			marker := forge.Marker("prod")

			_, created, err := f.UpsertComment(ctx(t), p.number, marker, marker+"\nfirst")
			if err != nil || !created {
				t.Fatalf("first upsert: created %v, %v", created, err)
			}
			_, created, err = f.UpsertComment(ctx(t), p.number, marker, marker+"\nsecond")
			if err != nil || created {
				t.Fatalf("second upsert: created %v, %v; want an edit", created, err)
			}
			cs := s.Comments()
			if len(cs) != 3 {
				t.Fatalf("%d comments, want 3 (two others and one plan)", len(cs))
			}
			if cs[2].Body != marker+"\nsecond" || cs[1].Body != forge.Marker("other")+"\nanother drover's plan" {
				t.Errorf("comments after two runs: %+v", cs)
			}
			noProblems(t, s)
		})
	}
}

func TestSetStatus_SendsTheDocumentedFieldsAndShortens(t *testing.T) {
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			s := p.fake(t)
			f := client(t, p, s)
			long := "Rolled back to abcdef12: check \"service: web\" critical: " + strings.Repeat("HTTP GET http://127.0.0.1/health: 500 ", 20)
			for _, st := range []forge.Status{
				{Commit: sha, State: forge.Pending, Context: "drover/prod/web", Description: "Deploying", TargetURL: "https://drover.example/jobs/default/web"},
				{Commit: sha, State: forge.Failure, Context: "drover/prod/web", Description: long},
				{Commit: sha, State: forge.Error, Context: "drover/prod/api", Description: "Register refused"},
			} {
				if err := f.SetStatus(ctx(t), st); err != nil {
					t.Fatal(err)
				}
			}
			got := s.Statuses()
			want := map[string][]string{"github": {"pending", "failure", "error"}, "gitlab": {"pending", "failed", "failed"}}[p.name]
			if len(got) != 3 {
				t.Fatalf("statuses %+v", got)
			}
			for i, w := range want {
				if got[i].State != w || got[i].Commit != sha {
					t.Errorf("status %d: %+v, want state %s", i, got[i], w)
				}
			}
			if got[0].TargetURL != "https://drover.example/jobs/default/web" || got[0].Context != "drover/prod/web" {
				t.Errorf("first status %+v", got[0])
			}
			if n := len([]rune(got[1].Description)); n > f.DescriptionLimit() || !strings.HasPrefix(got[1].Description, "Rolled back to abcdef12: check") {
				t.Errorf("failure description (%d runes) %q", n, got[1].Description)
			}
			noProblems(t, s)
		})
	}
}

func TestForge_FailingProviderReturnsAnErrorWithoutTheToken(t *testing.T) {
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			s := p.fake(t)
			s.SetFault(forgetest.Fail)
			f := client(t, p, s)
			err := f.SetStatus(ctx(t), forge.Status{Commit: sha, State: forge.Pending, Context: "drover/x/y"})
			if err == nil || strings.Contains(err.Error(), "secret") {
				t.Fatalf("err = %v; want an error that does not hold the token", err)
			}
			_, _, err = f.UpsertComment(ctx(t), p.number, "m", "m body")
			if err == nil {
				t.Fatal("upsert against a failing API succeeded")
			}
		})
	}
}

func TestNew_RefusesMissingRepoOrToken(t *testing.T) {
	for _, tc := range []struct {
		provider string
		o        forge.Options
		want     string
	}{
		{"github", forge.Options{Token: "x"}, "no repository"},
		{"github", forge.Options{Repo: "a/b"}, "DROVER_GITHUB_TOKEN"},
		{"gitlab", forge.Options{Repo: "a/b"}, "DROVER_GITLAB_TOKEN"},
		{"github", forge.Options{Repo: "justname", Token: "x"}, "owner/name"},
		{"bitbucket", forge.Options{Repo: "a/b", Token: "x"}, "unknown provider"},
	} {
		if _, err := forge.New(tc.provider, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%s, %+v) = %v, want %q", tc.provider, tc.o, err, tc.want)
		}
	}
}

func TestParseRepoURL(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ok       bool
		provider string
		path     string
		commit   string
	}{
		{"https://github.com/acme/deploys.git", true, "github", "acme/deploys", "https://github.com/acme/deploys/commit/abc"},
		{"git@github.com:acme/deploys.git", true, "github", "acme/deploys", "https://github.com/acme/deploys/commit/abc"},
		{"ssh://git@gitlab.com/acme/infra/deploys.git", true, "gitlab", "acme/infra/deploys", "https://gitlab.com/acme/infra/deploys/-/commit/abc"},
		{"https://gitlab.example.com/ops/deploys", true, "gitlab", "ops/deploys", "https://gitlab.example.com/ops/deploys/-/commit/abc"},
		{"https://git.example.com/acme/deploys.git", false, "", "", ""},
		{"/srv/git/deploys", false, "", "", ""},
		{"file:///srv/deploys", false, "", "", ""},
	} {
		r, ok := forge.ParseRepoURL(tc.in)
		if ok != tc.ok || r.Provider != tc.provider || r.Path != tc.path || r.CommitURL("abc") != tc.commit {
			t.Errorf("ParseRepoURL(%q) = %+v %v (commit %q)", tc.in, r, ok, r.CommitURL("abc"))
		}
	}
}

func TestShorten(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 140, "short"},
		{"a  b\n c", 140, "a b c"},
		{"abcdef", 4, "abc…"},
		{"ééééé", 3, "éé…"},
	} {
		if got := forge.Shorten(tc.in, tc.n); got != tc.want {
			t.Errorf("Shorten(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestRenderPlan_SummaryThenOneBlockPerJobNotInSync(t *testing.T) {
	report := &reconcile.Report{
		Revision: sha,
		Jobs: []*reconcile.JobResult{
			{Key: jobs.Key{ID: "same", Namespace: "default"}, Path: "same.nomad.hcl", Class: reconcile.InSync},
			{Key: jobs.Key{ID: "web", Namespace: "default"}, Path: "web.nomad.hcl", Class: reconcile.Update,
				Diff: &api.JobDiff{Type: "Edited", TaskGroups: []*api.TaskGroupDiff{{Type: "Edited", Name: "web",
					Tasks: []*api.TaskDiff{{Type: "Edited", Name: "hello", Objects: []*api.ObjectDiff{{Type: "Edited", Name: "Config",
						Fields: []*api.FieldDiff{{Type: "Edited", Name: "args[3]", Old: "1.0.0", New: "2.0.0"}}}}}}}}},
				Groups: map[string]reconcile.GroupCounts{"web": {}},
				PlacementFailures: map[string]*api.AllocationMetric{"web": {NodesEvaluated: 1, NodesFiltered: 1,
					DimensionExhausted: map[string]int{"memory": 1}}}},
			{Path: "broken.nomad.hcl", Class: reconcile.Failed,
				Err: &jobs.ParseError{Path: "broken.nomad.hcl", Line: 3, Msg: "broken.nomad.hcl:3,5-6: Unclosed configuration block"}},
		},
	}
	body := forge.RenderPlan(report, forge.Plan{Instance: "prod", Commit: sha, CommitURL: "https://github.com/acme/deploys/commit/" + sha})
	for _, want := range []string{
		forge.Marker("prod"),
		"**1 in sync, 0 create, 1 update, 0 drift, 0 prune, 1 errors** at [`0123456789ab`](https://github.com/acme/deploys/commit/" + sha + ")",
		"<details><summary><b>web</b>: update (<code>web.nomad.hcl</code>)</summary>",
		`args[3]: "1.0.0" => "2.0.0"`,
		`cannot be placed: 1 nodes evaluated, 1 filtered; memory exhausted on 1`,
		"<b>broken.nomad.hcl</b>: parse error (<code>broken.nomad.hcl:3</code>)",
		"Unclosed configuration block",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("comment lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<b>same</b>") || strings.Contains(body, "Summary:") {
		t.Errorf("comment shows the job in sync or WriteText's summary:\n%s", body)
	}
	if !strings.HasPrefix(body, forge.Marker("prod")+"\n") {
		t.Error("the marker is not the first line")
	}
	var pe *jobs.ParseError
	if !errors.As(report.Jobs[2].Err, &pe) {
		t.Fatal("test report lost its parse error")
	}
}
