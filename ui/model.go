package ui

import (
	"net/url"
	"sort"
	"strings"
	"time"
)

// statusDoc is the /v1/status document the page is drawn from: the agent's
// stable JSON, read back, so the page shows exactly what scripts see, and
// a standby shows the leader's document the same way.
type statusDoc struct {
	Agent       map[string]string `json:"agent"`
	Commit      string            `json:"commit"`
	CommitInfo  *commitInfo       `json:"commit_info"`
	LastSync    lastSync          `json:"last_sync"`
	LastSuccess *time.Time        `json:"last_success"`
	Report      *report           `json:"report"`
	Rollouts    []jobRollout      `json:"rollouts"`
	HA          *ha               `json:"ha"`
	Controls    *controls         `json:"controls"`
}

// controls are the operator's suspensions and the windows.
type controls struct {
	Suspensions struct {
		Instance *suspension           `json:"instance"`
		Jobs     map[string]suspension `json:"jobs"`
	} `json:"suspensions"`
	// Held is why a window holds every deploy now.
	Held string `json:"held"`
}

// suspension is who suspended something, when and why.
type suspension struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// commitInfo is the commit drover is at, as git describes it.
type commitInfo struct {
	Subject string    `json:"subject"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
}

type lastSync struct {
	Started    *time.Time `json:"started"`
	Finished   *time.Time `json:"finished"`
	DurationMS int64      `json:"duration_ms"`
	Running    bool       `json:"running"`
	Step       string     `json:"step"`
	Stuck      bool       `json:"stuck"`
	OK         bool       `json:"ok"`
	FailedStep string     `json:"failed_step"`
	Kind       string     `json:"kind"`
	Error      string     `json:"error"`
}

type report struct {
	Revision     string      `json:"revision"`
	Jobs         []reportJob `json:"jobs"`
	Orphans      []orphan    `json:"orphans"`
	PruneBlocked string      `json:"prune_blocked"`
}

type reportJob struct {
	Job               string   `json:"job"`
	Namespace         string   `json:"namespace"`
	Path              string   `json:"path"`
	Source            string   `json:"source"`
	Class             string   `json:"class"`
	State             string   `json:"state"`
	Commit            string   `json:"commit"`
	AppliedCommit     string   `json:"applied_commit"`
	Changes           []string `json:"changes"`
	PlacementFailures []string `json:"placement_failures"`
	Held              string   `json:"held"`
	DependsOn         []string `json:"depends_on"`
	Error             string   `json:"error"`
}

type orphan struct {
	Job       string `json:"job"`
	Namespace string `json:"namespace"`
	Path      string `json:"path"`
	Source    string `json:"source"`
	Commit    string `json:"commit"`
	Pruned    bool   `json:"pruned"`
	Error     string `json:"error"`
}

type jobRollout struct {
	Job            string       `json:"job"`
	Namespace      string       `json:"namespace"`
	State          string       `json:"state"`
	LastGoodCommit string       `json:"last_good_commit"`
	AppliedCommit  string       `json:"applied_commit"`
	Quarantined    []quarantine `json:"quarantined"`
	RolledBack     *rolledBack  `json:"rolled_back"`
	Held           string       `json:"held"`
	Rollout        *rollout     `json:"rollout"`
	History        []history    `json:"history"`
}

type quarantine struct {
	Fingerprint string    `json:"fingerprint"`
	Commit      string    `json:"commit"`
	Reason      string    `json:"reason"`
	At          time.Time `json:"at"`
}

type rolledBack struct {
	FromCommit string    `json:"from_commit"`
	ToCommit   string    `json:"to_commit"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
	ByNomad    bool      `json:"by_nomad"`
}

type rollout struct {
	Kind         string     `json:"kind"`
	Commit       string     `json:"commit"`
	Path         string     `json:"path"`
	Version      uint64     `json:"version"`
	FromCommit   string     `json:"from_commit"`
	Phase        string     `json:"phase"`
	Started      time.Time  `json:"started"`
	HealthySince *time.Time `json:"healthy_since"`
	Finished     *time.Time `json:"finished"`
	Reason       string     `json:"reason"`
	Waiting      []string   `json:"waiting"`
	Unreachable  string     `json:"unreachable"`
}

type history struct {
	Commit  string    `json:"commit"`
	Version uint64    `json:"version"`
	Class   string    `json:"class"`
	Kind    string    `json:"kind"`
	At      time.Time `json:"at"`
	Verdict string    `json:"verdict"`
	Reason  string    `json:"reason"`
}

type ha struct {
	Role   string  `json:"role"`
	ID     string  `json:"id"`
	Leader *holder `json:"leader"`
	Error  string  `json:"error"`
}

type holder struct {
	ID        string    `json:"id"`
	Advertise string    `json:"advertise"`
	Since     time.Time `json:"since"`
}

// row is one job of the jobs table: what git has, what the cluster runs,
// and how its last rollout went.
type row struct {
	Namespace, Name, Path string
	Class                 string
	// Status is the row's word, one of the words of statuses; Rank orders
	// the rows that need a person first.
	Status    string
	Rank      int
	GitCommit string
	Running   string
	LastGood  string
	Phase     string
	PhaseNote string
	Changed   *time.Time
	Report    *reportJob
	Rollout   *jobRollout
	Orphan    *orphan
	// Suspended is the job's own suspension, nil when it has none.
	Suspended  *suspension
	searchText string
}

// statuses are the words a row's state can be, most urgent first, with
// the CSS class that colours it. The word is always shown: colour is
// never the only sign.
var statuses = []struct{ word, class string }{
	{"error", "bad"},
	{"failed", "bad"},
	{"rollback failed", "bad"},
	{"rolled back", "warn"},
	{"quarantined", "warn"},
	{"held", "warn"},
	{"out of sync", "warn"},
	{"unknown", "warn"},
	{"rolling out", "busy"},
	{"orphan", "warn"},
	{"unverified", "info"},
	{"in sync", "good"},
	{"healthy", "good"},
}

// statusClass is the CSS class of a status word; a word it does not know
// gets no colour.
func statusClass(word string) string {
	for _, s := range statuses {
		if s.word == word {
			return "st-" + s.class
		}
	}
	switch word {
	case "watching", "baking":
		return "st-busy"
	case "superseded", "unresolved":
		return "st-info"
	}
	return "st-none"
}

func statusRank(word string) int {
	for i, s := range statuses {
		if s.word == word {
			return i
		}
	}
	return len(statuses)
}

// phaseWord turns a rollout's state into what the table says.
func phaseWord(r *jobRollout) string {
	if r == nil {
		return ""
	}
	if r.State == "rolling_out" && r.Rollout != nil && r.Rollout.Phase == "baking" {
		return "baking"
	}
	return strings.ReplaceAll(r.State, "_", " ")
}

// rows joins the report's jobs, its orphans and the rollouts: one row per
// job git has or this instance owns, those needing a person first.
func (d *statusDoc) rows(now time.Time, bake time.Duration) []row {
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
			if r.Phase == "baking" && ro.Rollout.HealthySince != nil && bake > 0 {
				left := ro.Rollout.HealthySince.Add(bake).Sub(now)
				if left < 0 {
					left = 0
				}
				r.PhaseNote = left.Round(time.Second).String() + " left"
			}
		}
	}
	r.Status = r.status()
	r.Rank = statusRank(r.Status)
	r.searchText = strings.ToLower(strings.Join([]string{r.Namespace, r.Name, r.Path, r.Class, r.Status, r.Phase, r.GitCommit, r.Running, r.LastGood}, " "))
}

// status is the row's one word: a job's own trouble first, then its
// rollout, then whether git and the cluster agree.
func (r *row) status() string {
	j, ro := r.Report, r.Rollout
	switch {
	case j != nil && j.Error != "":
		return "error"
	case ro != nil && ro.State != "" && ro.State != "healthy" && ro.State != "unverified":
		return phaseStatus(ro.State)
	case r.Orphan != nil && j == nil:
		return "orphan"
	case j != nil && j.Held != "" && j.Class != "in_sync":
		// A job in sync may carry a hold (its rollout was in flight): it
		// held nothing back.
		return "held"
	case j != nil && j.Class != "" && j.Class != "in_sync" && j.State != "applied":
		return "out of sync"
	case ro != nil && ro.State == "healthy":
		return "healthy"
	case j != nil && (j.Class == "in_sync" || j.State == "applied"):
		return "in sync"
	case ro != nil:
		return "unverified"
	}
	return "unknown"
}

func phaseStatus(state string) string { return strings.ReplaceAll(state, "_", " ") }

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

func (l repoLinks) commit(sha string) string {
	if l.base == "" || sha == "" {
		return ""
	}
	if l.kind == "gitlab" {
		return l.base + "/-/commit/" + url.PathEscape(sha)
	}
	return l.base + "/commit/" + url.PathEscape(sha)
}

func (l repoLinks) ref(ref string) string {
	if l.base == "" || ref == "" {
		return ""
	}
	if l.kind == "gitlab" {
		return l.base + "/-/tree/" + url.PathEscape(ref)
	}
	return l.base + "/tree/" + url.PathEscape(ref)
}
