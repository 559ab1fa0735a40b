package agent

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/metrics"
)

// WebhookSource is one followed source as a push is matched against it.
type WebhookSource struct {
	Name string
	// URL is the source's repo as configured.
	URL string
	// RefName is the ref it follows (source.Repo.RefName).
	RefName func() string
}

// pushToSources starts a cycle if the push moved a ref one of the sources
// follows, in that source's repo. The cycle reads every source; those the
// push did not touch cost a fetch that finds nothing new.
func (a *Agent) pushToSources(w http.ResponseWriter, req webhookRequest, p pushEvent) {
	pushed := pushedRepos(p)
	var names []string
	why := "no source follows the pushed repository"
	for _, s := range a.opts.Sources {
		if !pushed[normalRepoURL(s.URL)] {
			continue
		}
		watched := ""
		if s.RefName != nil {
			watched = s.RefName()
		}
		ok, reason := matchRef(watched, p.Ref)
		if !ok {
			why = "source " + s.Name + ": " + reason
			continue
		}
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		a.ignore(w, req, true, p.Ref, why)
		return
	}
	a.events.Emit(events.WebhookPush{Delivery: req.from, Ref: p.Ref, Commit: p.After, Sources: names},
		"push to a followed repo and ref; sync triggered")
	a.opts.Metrics.WebhookDelivery(req.provider, metrics.WebhookTriggered)
	code, answer := a.requestSync(req.ctx, "webhook")
	answer["ref"] = p.Ref
	answer["sources"] = strings.Join(names, ",")
	writeJSON(w, code, answer)
}

// pushedRepos is every URL a push payload gives for its repository,
// normalised: GitHub's repository.{clone,ssh,git,html}_url and url,
// GitLab's project.{git_http,git_ssh,web}_url and repository.{url,
// git_http_url, git_ssh_url, homepage}.
func pushedRepos(p pushEvent) map[string]bool {
	out := map[string]bool{}
	for _, raw := range []json.RawMessage{p.Repository, p.Project} {
		var fields map[string]any
		if json.Unmarshal(raw, &fields) != nil {
			continue
		}
		for _, k := range []string{"clone_url", "ssh_url", "git_url", "html_url", "url", "git_http_url", "git_ssh_url", "web_url", "homepage"} {
			if s, ok := fields[k].(string); ok && s != "" {
				out[normalRepoURL(s)] = true
			}
		}
	}
	return out
}

// normalRepoURL reduces the ways to write one repo's address to one: host
// (lowercase, no user or port) and path, without scheme, trailing slash
// or .git. https://GitHub.com/o/r.git, git@github.com:o/r and
// ssh://git@github.com:22/o/r all become github.com/o/r.
func normalRepoURL(raw string) string {
	raw = strings.TrimSpace(raw)
	host, path := "", raw
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		host, path = u.Hostname(), u.Path
	} else if at, rest, ok := strings.Cut(raw, "@"); ok && !strings.Contains(at, "/") {
		// scp-like: user@host:path
		if h, p, ok := strings.Cut(rest, ":"); ok {
			host, path = h, p
		}
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	return strings.ToLower(host) + "/" + strings.Trim(path, "/")
}
