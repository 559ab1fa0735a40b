package agent

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
	"github.com/rs/zerolog"
)

func TestNormalRepoURL(t *testing.T) {
	const want = "github.com/acme/jobs"
	for _, in := range []string{
		"https://github.com/acme/jobs.git",
		"https://GitHub.com/acme/jobs",
		"https://user@github.com/acme/jobs/",
		"http://github.com:443/acme/jobs.git",
		"git@github.com:acme/jobs.git",
		"ssh://git@github.com:22/acme/jobs.git",
		"git://github.com/acme/jobs.git",
	} {
		if got := normalRepoURL(in); got != want {
			t.Errorf("normalRepoURL(%q) = %q, want %q", in, got, want)
		}
	}
	if a, b := normalRepoURL("/srv/git/jobs"), normalRepoURL("file:///srv/git/jobs.git"); a != b {
		t.Errorf("a local path %q and its file URL %q differ", a, b)
	}
	if normalRepoURL("https://github.com/acme/other") == want {
		t.Error("another repo matched")
	}
}

// TestWebhook_ManySourcesTriggerOnlyForAFollowedRepoAndRef: a push starts
// a cycle when one source follows its repo and ref, whatever URL form the
// payload gives.
func TestWebhook_ManySourcesTriggerOnlyForAFollowedRepoAndRef(t *testing.T) {
	var log bytes.Buffer
	a, err := New(runnerOver(func(context.Context) (jobs.Tree, error) { return nil, errors.New("unused") },
		&jobs.Loader{}, reconcile.New(nil, reconcile.Options{}), nil),
		Options{
			WebhookSecret: testSecret,
			Sources: []WebhookSource{
				{Name: "platform", URL: "https://github.com/acme/platform.git", RefName: func() string { return "refs/heads/main" }},
				{Name: "apps", URL: "git@gitlab.example.com:acme/apps.git", RefName: func() string { return "refs/heads/prod" }},
			},
			Logger: zerolog.New(&log).Level(zerolog.DebugLevel),
		})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, provider, body string
		want                 bool
	}{
		{"github, followed repo and ref", "github",
			`{"ref":"refs/heads/main","after":"abc","repository":{"clone_url":"https://github.com/Acme/platform.git","ssh_url":"git@github.com:acme/platform.git"}}`, true},
		{"github, followed repo, other ref", "github",
			`{"ref":"refs/heads/dev","after":"abc","repository":{"clone_url":"https://github.com/acme/platform.git"}}`, false},
		{"github, other repo", "github",
			`{"ref":"refs/heads/main","after":"abc","repository":{"clone_url":"https://github.com/acme/else.git"}}`, false},
		{"github, no repository", "github", `{"ref":"refs/heads/main","after":"abc"}`, false},
		{"gitlab, followed repo and ref", "gitlab",
			`{"object_kind":"push","ref":"refs/heads/prod","after":"abc","project":{"git_ssh_url":"git@gitlab.example.com:acme/apps.git"}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json"}
			if tc.provider == "github" {
				h["X-GitHub-Event"], h["X-Hub-Signature-256"] = "push", sign(testSecret, []byte(tc.body))
			} else {
				h["X-Gitlab-Event"], h["X-Gitlab-Token"] = "Push Hook", testSecret
			}
			rec := post(a, "/webhook/"+tc.provider, h, []byte(tc.body))
			_, fired := triggered(a)
			if fired != tc.want {
				t.Errorf("triggered %v, want %v (HTTP %d %s)", fired, tc.want, rec.Code, rec.Body)
			}
			if want := map[bool]int{true: http.StatusAccepted, false: http.StatusOK}[tc.want]; rec.Code != want {
				t.Errorf("HTTP %d, want %d: %s", rec.Code, want, rec.Body)
			}
		})
	}
}
