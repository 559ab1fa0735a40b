package ui

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/drover-dev/drover/api"
)

// row is one job of the jobs table: what git has, what the cluster runs,
// and how its last rollout went.
type row struct {
	Namespace, Name, Path string
	Class                 api.Class
	// State is the job's one state; Status is its word, as the page
	// shows it and filters by it, and Rank orders the rows that need a
	// person first.
	State     api.JobState
	Status    string
	Rank      int
	GitCommit string
	Running   string
	LastGood  string
	Phase     string
	PhaseNote string
	Changed   *time.Time
	Report    *api.Job
	Rollout   *api.JobRollout
	Orphan    *api.Orphan
	// Suspended is the job's own suspension, nil when it has none.
	Suspended  *api.Suspension
	searchText string
}

// stateColours are the CSS class that colours each job state. The word is
// always shown: colour is never the only sign.
var stateColours = map[api.JobState]string{
	api.JobError:          "bad",
	api.JobFailed:         "bad",
	api.JobRollbackFailed: "bad",
	api.JobRolledBack:     "warn",
	api.JobQuarantined:    "warn",
	api.JobHeld:           "warn",
	api.JobOutOfSync:      "warn",
	api.JobUnknown:        "warn",
	api.JobRollingOut:     "busy",
	api.JobOrphan:         "warn",
	api.JobUnverified:     "info",
	api.JobInSync:         "good",
	api.JobHealthy:        "good",
}

// statusClass is the CSS class of a word the page shows: a job state's,
// or a rollout phase's; a word it does not know gets no colour.
func statusClass(word string) string {
	code := strings.ReplaceAll(word, " ", "_")
	if c, ok := stateColours[api.JobState(code)]; ok {
		return "st-" + c
	}
	switch api.Phase(code) {
	case api.PhaseWatching, api.PhaseBaking:
		return "st-busy"
	case api.PhaseSuperseded:
		return "st-info"
	}
	return "st-none"
}

// phaseWord turns a rollout's state into what the table says.
func phaseWord(r *api.JobRollout) string {
	if r == nil {
		return ""
	}
	if r.State == api.JobRollingOut && r.Rollout != nil && r.Rollout.Phase == api.PhaseBaking {
		return string(api.PhaseBaking)
	}
	return r.State.Word()
}

// rows joins the report's jobs, its orphans and the rollouts: one row per
// job git has or this instance owns, those needing a person first.
func rows(d *api.Status, now time.Time, bake time.Duration) []row {
	type key struct{ ns, name string }
	byKey := map[key]*row{}
	var order []key
	get := func(ns, name string) *row {
		k := key{ns, name}
		if r, ok := byKey[k]; ok {
			return r
		}
		r := &row{Namespace: ns, Name: name}
		byKey[k] = r
		order = append(order, k)
		return r
	}
	if d.Report != nil {
		for i := range d.Report.Jobs {
			j := &d.Report.Jobs[i]
			if j.Job == "" {
				// A file that never became a job: a row of its own, named
				// by its path only, with no job page.
				r := get("", "\x00"+j.Path)
				r.Name, r.Report = "", j
				continue
			}
			get(j.Namespace, j.Job).Report = j
		}
		for i := range d.Report.Orphans {
			o := &d.Report.Orphans[i]
			get(o.Namespace, o.Job).Orphan = o
		}
	}
	for i := range d.Rollouts {
		ro := &d.Rollouts[i]
		get(ro.Namespace, ro.Job).Rollout = ro
	}
	out := make([]row, 0, len(order))
	for _, k := range order {
		r := byKey[k]
		if c := d.Controls; c != nil {
			if s, ok := c.Suspensions.Jobs[k.ns+"/"+k.name]; ok {
				r.Suspended = &s
			}
		}
		r.fill(now, bake)
		out = append(out, *r)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Rank != out[b].Rank {
			return out[a].Rank < out[b].Rank
		}
		if out[a].Namespace != out[b].Namespace {
			return out[a].Namespace < out[b].Namespace
		}
		return out[a].Name < out[b].Name
	})
	return out
}

// sourcePath is a job file as the page names it: with many sources,
// prefixed by its source.
func sourcePath(source, path string) string {
	if source == "" {
		return path
	}
	return source + ": " + path
}

func (r *row) fill(now time.Time, bake time.Duration) {
	if j := r.Report; j != nil {
		r.Path, r.Class, r.GitCommit, r.Running = sourcePath(j.Source, j.Path), j.Class, j.Commit, j.AppliedCommit
	}
	if o := r.Orphan; o != nil {
		r.Path, r.Running = sourcePath(o.Source, o.Path), o.Commit
	}
	if ro := r.Rollout; ro != nil {
		r.LastGood = ro.LastGoodCommit
		if ro.AppliedCommit != "" {
			r.Running = ro.AppliedCommit
		}
		r.Phase = phaseWord(ro)
		if ro.Rollout != nil {
			t := ro.Rollout.Started
			if ro.Rollout.Finished != nil {
				t = *ro.Rollout.Finished
			}
			r.Changed = &t
			if r.Phase == string(api.PhaseBaking) && ro.Rollout.HealthySince != nil && bake > 0 {
				left := ro.Rollout.HealthySince.Add(bake).Sub(now)
				if left < 0 {
					left = 0
				}
				r.PhaseNote = left.Round(time.Second).String() + " left"
			}
		}
	}
	r.State = api.StateOf(r.Report, r.Rollout, r.Orphan)
	r.Status, r.Rank = r.State.Word(), r.State.Rank()
	r.searchText = strings.ToLower(strings.Join([]string{r.Namespace, r.Name, r.Path, string(r.Class), r.Status, r.Phase, r.GitCommit, r.Running, r.LastGood}, " "))
}

// matches is the filter of the table without JavaScript: q is any text of
// the row, state its status word.
func (r *row) matches(q, state string) bool {
	if state != "" && r.Status != state {
		return false
	}
	return q == "" || strings.Contains(r.searchText, strings.ToLower(q))
}

// repoLinks builds web links of the repository when it is hosted on
// GitHub or GitLab; "" otherwise, and never with credentials in them.
type repoLinks struct{ base, kind string }

func newRepoLinks(repo string) repoLinks {
	s := strings.TrimSuffix(strings.TrimSpace(repo), ".git")
	// scp-like git@host:owner/name
	if at := strings.Index(s, "@"); !strings.Contains(s, "://") && at >= 0 {
		if host, path, ok := strings.Cut(s[at+1:], ":"); ok {
			s = "https://" + host + "/" + path
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return repoLinks{}
	}
	host := strings.ToLower(u.Hostname())
	kind := ""
	switch {
	case host == "github.com":
		kind = "github"
	case host == "gitlab.com" || strings.HasPrefix(host, "gitlab."):
		kind = "gitlab"
	default:
		return repoLinks{}
	}
	// The web UI is on https at the host, whatever port git spoke to.
	u.Scheme, u.Host, u.User, u.RawQuery, u.Fragment = "https", u.Hostname(), nil, "", ""
	return repoLinks{base: strings.TrimSuffix(u.String(), "/"), kind: kind}
}

func (l repoLinks) repo() string { return l.base }

func (l repoLinks) commit(sha string) string { return l.page("commit", sha) }

func (l repoLinks) ref(ref string) string { return l.page("tree", ref) }

// page links the forge's page of one commit or tree; GitLab keeps its
// pages under /-/.
func (l repoLinks) page(what, name string) string {
	if l.base == "" || name == "" {
		return ""
	}
	if l.kind == "gitlab" {
		what = "-/" + what
	}
	return l.base + "/" + what + "/" + url.PathEscape(name)
}
