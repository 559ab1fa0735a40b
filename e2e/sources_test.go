package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/api"
	"github.com/drover-dev/drover/internal/testutil"
)

// namedRepo is one source of a config file.
type namedRepo struct {
	name string
	repo *repo
}

// sourcesConfig writes a config file of one source per repo, each given
// the hello binary as its variable, and returns its path.
func sourcesConfig(t *testing.T, sources []namedRepo) string {
	t.Helper()
	var b strings.Builder
	for _, s := range sources {
		fmt.Fprintf(&b, "source %q {\n  repo = %q\n  var  = { hello_bin = %q }\n}\n\n", s.name, s.repo.dir, env.hello)
	}
	path := filepath.Join(t.TempDir(), "drover.hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// noVarEnv unsets the --var every other test passes by environment: with
// --config each source sets its own, and a source flag beside it is an
// error.
var noVarEnv = []string{"DROVER_VAR="}

// TestSources_TwoReposDeployAndAJobClaimedByBothIsAppliedFromNeither: one
// agent follows two repos from a config file. Each repo's job is
// registered with its source and commit; a job both declare is a job.error
// for each, never registered, until one repo drops it and the other's is
// registered. A push webhook triggers only for a followed repo.
func TestSources_TwoReposDeployAndAJobClaimedByBothIsAppliedFromNeither(t *testing.T) {
	t.Parallel()
	alpha, beta := newRepo(t), newRepo(t)
	alphaSHA := alpha.commit("alpha's jobs", map[string]string{
		"srcs-a.nomad.hcl":   batchJob("srcs-a", "1"),
		"srcs-dup.nomad.hcl": batchJob("srcs-dup", "alpha"),
	})
	betaSHA := beta.commit("beta's jobs", map[string]string{
		"jobs/srcs-b.nomad.hcl": batchJob("srcs-b", "1"),
		"jobs/dup.nomad.hcl":    batchJob("srcs-dup", "beta"),
	})
	config := sourcesConfig(t, []namedRepo{{"alpha", alpha}, {"beta", beta}})
	a := startAgentWith(t, noVarEnv, "--config", config, "--instance", "srcs", "--interval", "1h",
		"--webhook-secret", webhookSecret)

	for _, want := range []struct{ job, source, sha string }{{"srcs-a", "alpha", alphaSHA}, {"srcs-b", "beta", betaSHA}} {
		e := a.waitEvent("job.applied", time.Minute, forJob(want.job))
		if e["source"] != want.source || e["commit"] != want.sha {
			t.Errorf("job.applied of %s = %v; want source %s, commit %s", want.job, e, want.source, want.sha)
		}
		meta := nomadJob(t, want.job).Meta
		if meta["drover.source"] != want.source || meta["drover.commit"] != want.sha || meta["drover.instance"] != "srcs" {
			t.Errorf("%s meta = %v; want source %s at %s", want.job, meta, want.source, want.sha)
		}
	}
	for _, source := range []string{"alpha", "beta"} {
		e := a.waitEvent("job.error", time.Minute, func(e map[string]any) bool { return e["job"] == "srcs-dup" && e["source"] == source })
		msg := fmt.Sprint(e["error"])
		if !strings.Contains(msg, "job default/srcs-dup is declared by sources alpha (srcs-dup.nomad.hcl) and beta (jobs/dup.nomad.hcl)") {
			t.Errorf("job.error of srcs-dup from %s: %q", source, msg)
		}
	}
	// The cycle that reported both errors is done: nothing registered it.
	a.waitEvent("sync.done", time.Minute, okCycle)
	if _, _, err := env.cluster.Nomad().Jobs().Info("srcs-dup", nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("srcs-dup was registered (err %v); a job two sources claim must be applied from neither", err)
	}

	st := a.status()
	if st.Report == nil {
		t.Fatalf("/v1/status has no report: %+v", st)
	}
	if st.Agent["sources"] != "alpha,beta" || len(st.Report.Sources) != 2 ||
		st.Report.Sources[0].Revision != alphaSHA || st.Report.Sources[1].Revision != betaSHA {
		t.Errorf("status sources: agent %v, report %+v", st.Agent, st.Report.Sources)
	}
	dups := 0
	for _, j := range st.Report.Jobs {
		switch {
		case j.Job == "srcs-dup":
			dups++
			if j.Error == "" || (j.Source != "alpha" && j.Source != "beta") {
				t.Errorf("status of srcs-dup: %+v; want an error and its source", j)
			}
		case j.Job == "srcs-a" && (j.Source != "alpha" || j.Commit != alphaSHA),
			j.Job == "srcs-b" && (j.Source != "beta" || j.Commit != betaSHA):
			t.Errorf("status of %s: %+v", j.Job, j)
		}
	}
	if dups != 2 {
		t.Errorf("status lists srcs-dup %d times, want once per source: %+v", dups, st.Report.Jobs)
	}

	// A push to neither repo starts nothing; a push to beta starts a cycle,
	// which finds beta's copy gone and registers alpha's.
	code, answer := githubPushTo(t, a, "/elsewhere/jobs.git", "refs/heads/main", betaSHA)
	if code != http.StatusOK || !strings.Contains(answer, "ignored") {
		t.Errorf("push to an unfollowed repo: %d %s; want 200 ignored", code, answer)
	}
	mark := a.mark()
	beta.commit("alpha owns srcs-dup", map[string]string{"jobs/dup.nomad.hcl": ""})
	code, answer = githubPushTo(t, a, "file://"+beta.dir+".git", "refs/heads/main", betaSHA)
	var triggered map[string]string
	if code != http.StatusAccepted || json.Unmarshal([]byte(answer), &triggered) != nil || triggered["sources"] != "beta" {
		t.Fatalf("push to beta: %d %s; want 202 for source beta", code, answer)
	}
	e := a.waitFor(mark, "job.applied", time.Minute, "srcs-dup registered from alpha", forJob("srcs-dup"))
	if e["source"] != "alpha" || e["commit"] != alphaSHA {
		t.Errorf("job.applied of srcs-dup = %v; want from alpha at %s", e, alphaSHA)
	}
	if meta := nomadJob(t, "srcs-dup").Meta; meta["drover.source"] != "alpha" {
		t.Errorf("srcs-dup meta = %v; want source alpha", meta)
	}
}

// githubPushTo delivers a signed GitHub push of ref at sha to repoURL.
func githubPushTo(t *testing.T, a *agentProc, repoURL, ref, sha string) (int, string) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"ref":%q,"after":%q,"repository":{"full_name":"e2e/jobs","clone_url":%q}}`, ref, sha, repoURL))
	return post(t, "http://"+a.addr+"/webhook/github", map[string]string{
		"Content-Type":        "application/json",
		"X-GitHub-Event":      "push",
		"X-GitHub-Delivery":   fmt.Sprintf("e2e-src-%d", time.Now().UnixNano()),
		"X-Hub-Signature-256": hubSignature(webhookSecret, body),
	}, body)
}

// TestSources_AnUnreadableSourceKeepsItsJobsAndTheOthersSync: with prune on
// in both sources, a source whose repo is gone fails only itself: apply
// exits 1 naming it, its job is kept running (not pruned as an orphan),
// and the other source still applies its change and prunes its own
// deleted job.
func TestSources_AnUnreadableSourceKeepsItsJobsAndTheOthersSync(t *testing.T) {
	t.Parallel()
	alpha, beta := newRepo(t), newRepo(t)
	alpha.commit("alpha's jobs", map[string]string{
		"srcs-up.nomad.hcl":   batchJob("srcs-up", "1"),
		"srcs-gone.nomad.hcl": batchJob("srcs-gone", "1"),
	})
	beta.commit("beta's job", map[string]string{"srcs-kept.nomad.hcl": batchJob("srcs-kept", "1")})
	config := sourcesConfig(t, []namedRepo{{"alpha", alpha}, {"beta", beta}})
	args := []string{"apply", "--config", config, "--instance", "srcs-down", "--prune"}
	if res := droverWith(t, noVarEnv, args...); res.code != 0 || len(res.events("job.applied")) != 3 {
		t.Fatalf("first apply: exit %d, %d applied\n%s", res.code, len(res.events("job.applied")), res.stderr)
	}

	if err := os.Rename(beta.dir, beta.dir+"-moved"); err != nil {
		t.Fatal(err)
	}
	upSHA := alpha.commit("bump srcs-up, drop srcs-gone", map[string]string{
		"srcs-up.nomad.hcl":   batchJob("srcs-up", "2"),
		"srcs-gone.nomad.hcl": "",
	})
	res := droverWith(t, noVarEnv, args...)
	if res.code != 1 {
		t.Errorf("apply with beta unreadable: exit %d, want 1\n%s", res.code, res.stdout)
	}
	if errs := res.events("source.error"); len(errs) != 1 || errs[0]["source"] != "beta" {
		t.Errorf("source.error events = %v; want one for beta", errs)
	}
	if !strings.Contains(res.stdout, `Source "beta" could not be read`) {
		t.Errorf("apply output does not name the unreadable source:\n%s", res.stdout)
	}
	applied := res.events("job.applied")
	if len(applied) != 1 || applied[0]["job"] != "srcs-up" || applied[0]["commit"] != upSHA {
		t.Errorf("job.applied = %v; want srcs-up at %s only", applied, upSHA)
	}
	pruned := res.events("job.pruned")
	if len(pruned) != 1 || pruned[0]["job"] != "srcs-gone" || pruned[0]["source"] != "alpha" {
		t.Errorf("job.pruned = %v; want alpha's srcs-gone only", pruned)
	}
	kept := 0
	for _, o := range res.events("job.orphan") {
		if o["job"] == "srcs-kept" {
			kept++
			if !strings.Contains(fmt.Sprint(o["prune_blocked"]), `source "beta" could not be read`) {
				t.Errorf("orphan srcs-kept = %v; want kept because beta could not be read", o)
			}
		}
	}
	if kept != 1 {
		t.Errorf("srcs-kept reported as an orphan %d times, want once (kept)", kept)
	}
	if job := nomadJob(t, "srcs-kept"); job.Stop != nil && *job.Stop {
		t.Errorf("srcs-kept was stopped; a source that could not be read prunes nothing")
	}
	if job := nomadJob(t, "srcs-gone"); job.Stop == nil || !*job.Stop {
		t.Errorf("srcs-gone is still running; alpha prunes its own orphans")
	}
}

// TestSources_RollbackReadsTheLastGoodSpecFromItsOwnRepo: a failed rollout
// of the second source's job is rolled back to the spec at its last good
// commit, read from that source's repo, not the first source's.
func TestSources_RollbackReadsTheLastGoodSpecFromItsOwnRepo(t *testing.T) {
	t.Parallel()
	const id = "srcs-rb"
	alpha, beta := newRepo(t), newRepo(t)
	alpha.commit("alpha's job", map[string]string{"srcs-rb-other.nomad.hcl": batchJob("srcs-rb-other", "1")})
	good := beta.commit("good", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "1.0.0"})})
	config := sourcesConfig(t, []namedRepo{{"alpha", alpha}, {"beta", beta}})
	a := startAgentWith(t, noVarEnv, append([]string{"--config", config, "--instance", "srcs-rb", "--health-fail-after", "5s"}, rolloutArgs...)...)
	healthy := a.waitEvent("rollout.healthy", 90*time.Second, onCommit(id, good))
	if healthy["source"] != "beta" {
		t.Errorf("rollout.healthy = %v; want source beta", healthy)
	}

	bad := beta.commit("bad", map[string]string{"app.nomad.hcl": rolloutJob(id, helloVariant{version: "2.0.0", unhealthy: true})})
	a.sync()
	a.waitEvent("rollout.failed", 90*time.Second, onCommit(id, bad))
	rb := a.waitEvent("rollback.applied", time.Minute, func(e map[string]any) bool {
		return e["job"] == id && e["from_commit"] == bad && e["to_commit"] == good
	})
	if rb["source"] != "beta" {
		t.Errorf("rollback.applied = %v; want source beta", rb)
	}
	if failed := testutil.EventsIn(a.log.String(), "rollback.failed"); len(failed) != 0 {
		t.Errorf("rollback.failed: %v", failed)
	}
	if meta := nomadJob(t, id).Meta; meta["drover.commit"] != good || meta["drover.source"] != "beta" {
		t.Errorf("after rollback %s meta = %v; want beta's %s", id, meta, good)
	}
	waitHealthy(t, id, 1)
}

// TestSources_TwoSourcesOfOneRepoPlanWithTheirOwnSettings: two sources may
// read different paths of one repo with different variables; `plan
// --config` plans each job with its own source's settings.
func TestSources_TwoSourcesOfOneRepoPlanWithTheirOwnSettings(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	sha := r.commit("two teams", map[string]string{
		"web/srcs-web.nomad.hcl": batchJob("srcs-web", "1"),
		"ops/srcs-ops.nomad.hcl": `job "srcs-ops" {
  type = "batch"
  group "run" {
    task "t" {
      driver = "raw_exec"
      config {
        command = var.hello_bin
        args    = ["-version", var.team]
      }
    }
  }
}
variable "hello_bin" { type = string }
variable "team" { type = string }
`,
	})
	path := filepath.Join(t.TempDir(), "drover.hcl")
	config := fmt.Sprintf(`source "web" {
  repo = %[1]q
  path = ["web"]
  var  = { hello_bin = %[2]q }
}

source "ops" {
  repo = %[1]q
  path = ["ops"]
  var  = { hello_bin = %[2]q, team = "ops" }
}
`, r.dir, env.hello)
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	res := droverWith(t, noVarEnv, "plan", "--json", "--config", path, "--instance", "srcs-mono")
	if res.code != 2 {
		t.Fatalf("plan: exit %d, want 2 (two jobs to create)\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	var report api.Report
	if err := json.Unmarshal([]byte(res.stdout), &report); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, res.stdout)
	}
	if report.Revision != "web@"+sha+",ops@"+sha || len(report.Jobs) != 2 {
		t.Fatalf("plan: revision %q, jobs %+v", report.Revision, report.Jobs)
	}
	for _, j := range report.Jobs {
		if j.Source != strings.TrimPrefix(j.Job, "srcs-") || j.Commit != sha || j.Class != api.ClassCreate || j.Error != "" {
			t.Errorf("planned %+v; want created from its own source at %s", j, sha)
		}
	}
}
