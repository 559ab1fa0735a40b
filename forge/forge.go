// Package forge talks to the code hosts drover's users merge on (GitHub,
// GitHub Enterprise, GitLab): it keeps one plan comment per instance on a
// pull or merge request up to date, and sets commit statuses. It renders
// the comment from a reconcile.Report; what to say in a status is decided by
// the caller.
package forge

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// Providers drover can comment on and set statuses at.
const (
	GitHub = "github"
	GitLab = "gitlab"
)

// Commit status states, GitHub's words; GitLab's client maps them.
const (
	Pending = "pending"
	Success = "success"
	Failure = "failure"
	Error   = "error"
)

// Status is one commit status.
type Status struct {
	Commit string
	// State is Pending, Success, Failure or Error.
	State string
	// Context names the status among the commit's others (GitHub's
	// context, GitLab's name): drover/<instance>/<job>.
	Context     string
	Description string
	// TargetURL is where the status links to; "" for none.
	TargetURL string
}

// Forge is one repository on a code host.
type Forge interface {
	// UpsertComment makes body the text of the one comment on the pull or
	// merge request number that contains marker: it edits that comment
	// when there is one, or creates it. It returns the comment's URL.
	UpsertComment(ctx context.Context, number int, marker, body string) (link string, created bool, err error)
	// SetStatus sets a commit status.
	SetStatus(ctx context.Context, s Status) error
	// DescriptionLimit is the longest status description the host takes.
	DescriptionLimit() int
}

// Options configure a forge client.
type Options struct {
	// Repo is owner/name on GitHub, the project's path or numeric ID on
	// GitLab.
	Repo string
	// Token authenticates every call. Never logged.
	Token string
	// APIURL is GitHub's API root (default https://api.github.com/; GitHub
	// Enterprise: https://HOST/api/v3/) or GitLab's instance URL (default
	// https://gitlab.com).
	APIURL string
}

// New builds the client of provider.
func New(provider string, o Options) (Forge, error) {
	if o.Repo == "" {
		return nil, fmt.Errorf("%s: no repository given", provider)
	}
	if o.Token == "" {
		return nil, fmt.Errorf("%s: no token (set DROVER_%s_TOKEN)", provider, strings.ToUpper(provider))
	}
	switch provider {
	case GitHub:
		return newGitHub(o)
	case GitLab:
		return newGitLab(o)
	}
	return nil, fmt.Errorf("unknown provider %q: want github or gitlab", provider)
}

// Repo is where a git URL points on a code host.
type Repo struct {
	// Provider is GitHub or GitLab.
	Provider string
	// Path is owner/name (GitHub) or group/…/project (GitLab).
	Path string
	// Web is the repository's web address, e.g. https://github.com/o/n.
	Web string
}

// ParseRepoURL recognises a GitHub or GitLab clone URL (https://, ssh://
// or git@host:path). Hosts named github.* / gitlab.* count as well, so
// GitHub Enterprise and self-managed GitLab are found by name. ok is false
// for any other URL.
func ParseRepoURL(raw string) (Repo, bool) {
	var host, path string
	switch {
	case strings.Contains(raw, "://"):
		u, err := url.Parse(raw)
		if err != nil {
			return Repo{}, false
		}
		host, path = u.Hostname(), u.Path
	case strings.Contains(raw, "@") && strings.Contains(raw, ":"):
		rest := raw[strings.Index(raw, "@")+1:]
		host, path, _ = strings.Cut(rest, ":")
	default:
		return Repo{}, false
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if path == "" || !strings.Contains(path, "/") {
		return Repo{}, false
	}
	var provider string
	switch label := strings.ToLower(strings.SplitN(host, ".", 2)[0]); label {
	case GitHub, GitLab:
		provider = label
	default:
		return Repo{}, false
	}
	if provider == GitHub && strings.Count(path, "/") != 1 {
		return Repo{}, false
	}
	return Repo{Provider: provider, Path: path, Web: "https://" + host + "/" + path}, true
}

// CommitURL is the web page of commit on r, "" when r is unknown.
func (r Repo) CommitURL(commit string) string {
	switch {
	case r.Web == "" || commit == "":
		return ""
	case r.Provider == GitLab:
		return r.Web + "/-/commit/" + commit
	}
	return r.Web + "/commit/" + commit
}

// Shorten cuts s to at most n runes, ending in "…" when cut.
func Shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if n <= 0 || len(r) <= n {
		return s
	}
	if n == 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}
