package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/feedback"
	"github.com/drover-dev/drover/forge"
	"github.com/drover-dev/drover/metrics"
	"github.com/drover-dev/drover/notify"
	"github.com/drover-dev/drover/reconcile"
	"github.com/rs/zerolog"
)

// commentTimeout bounds posting the plan comment: listing the pull
// request's comments and writing one.
const commentTimeout = time.Minute

// forgeConfig is where plan comments and commit statuses go.
type forgeConfig struct {
	comment, status          string
	pr, mr                   int
	githubRepo, githubAPIURL string
	gitlabProject, gitlabURL string
	githubToken, gitlabToken string
	publicURL                string
	notify                   []string
	notifyAfterFailing       time.Duration
}

func (c *config) forgeFlags(f *flagSet) {
	g := f.group("GitHub and GitLab")
	f.String(g, &c.forge.githubRepo, "github-repo", "", "GitHub repository as owner/name. Default: taken from --repo when it is a GitHub URL.\nThe token is read from DROVER_GITHUB_TOKEN only, and never printed.")
	f.String(g, &c.forge.githubAPIURL, "github-api-url", "https://api.github.com/", "GitHub API root; GitHub Enterprise Server: https://HOST/api/v3/.")
	f.String(g, &c.forge.gitlabProject, "gitlab-project", "", "GitLab project as group/…/name or its numeric ID. Default: taken from --repo when it\nis a GitLab URL. The token is read from DROVER_GITLAB_TOKEN only, and never printed.")
	f.String(g, &c.forge.gitlabURL, "gitlab-url", "https://gitlab.com", "GitLab instance URL, for self-managed GitLab.")
}

func (c *config) commentFlags(f *flagSet) {
	g := f.group("GitHub and GitLab")
	f.String(g, &c.forge.comment, "comment", "", "Post the plan as one comment on a pull request (github, with --pr) or merge request\n(gitlab, with --mr); the next run edits the same comment (found by a hidden marker\nnaming --instance). The exit code is the plan's, or 1 if the comment failed.")
	f.Int(g, &c.forge.pr, "pr", 0, "Pull request number, with --comment github.")
	f.Int(g, &c.forge.mr, "mr", 0, "Merge request IID, with --comment gitlab.")
}

func (c *config) feedbackFlags(f *flagSet) {
	g := f.group("GitHub and GitLab")
	f.String(g, &c.forge.status, "status", "", "Set a commit status per job on github or gitlab (context drover/<instance>/<job>):\npending when registered and watched, success when healthy through the bake, failure\n(with the failing check) when the rollout failed, error when the register was refused.")
	f.String(g, &c.forge.publicURL, "public-url", "", "URL people reach this drover at; commit statuses link to <public-url>/jobs/<ns>/<job>.")
	g = f.group("Notifications")
	f.List(g, &c.forge.notify, "notify", "", "Send notifications to this URL: slack:https://… for a Slack-compatible incoming\nwebhook (Slack, Mattermost, Rocket.Chat), any other URL gets CloudEvents 1.0 JSON.\nRepeatable. Only scheme and host are ever logged.")
	f.Duration(g, &c.forge.notifyAfterFailing, "notify-after-failing", feedback.DefaultFailingAfter, "Notify when syncs have failed for this long, and again when they recover.")
}

// readTokens takes the forge tokens from the environment only: a token on
// the command line would be visible to every user of the machine.
func (c *config) readTokens(getenv func(string) string) {
	c.forge.githubToken = getenv("DROVER_GITHUB_TOKEN")
	c.forge.gitlabToken = getenv("DROVER_GITLAB_TOKEN")
}

func (c *config) validateForge() error {
	fc := &c.forge
	for _, p := range []struct{ flag, v string }{{"--comment", fc.comment}, {"--status", fc.status}} {
		if p.v != "" && p.v != forge.GitHub && p.v != forge.GitLab {
			return fmt.Errorf("%s %q: want github or gitlab", p.flag, p.v)
		}
	}
	switch {
	case fc.comment == forge.GitHub && fc.pr <= 0:
		return fmt.Errorf("--comment github needs --pr N")
	case fc.comment == forge.GitLab && fc.mr <= 0:
		return fmt.Errorf("--comment gitlab needs --mr N")
	case fc.notifyAfterFailing < 0:
		return fmt.Errorf("--notify-after-failing must not be negative")
	}
	if fc.comment != "" {
		if _, err := c.commentOptions(fc.comment); err != nil {
			return err
		}
	}
	if _, err := c.statusOptions(); err != nil {
		return err
	}
	_, err := c.notifyTargets()
	return err
}

// forgeRepo is the repository on provider that s's commits are in: the
// one its block names (github_repo, gitlab_project; for the flags' source
// --github-repo, --gitlab-project), else its repo URL's when that is on
// provider.
func forgeRepo(s sourceConfig, provider string) string {
	named := s.githubRepo
	if provider == forge.GitLab {
		named = s.gitlabProject
	}
	if named != "" {
		return named
	}
	if parsed, ok := forge.ParseRepoURL(s.repo); ok && parsed.Provider == provider {
		return parsed.Path
	}
	return ""
}

// forgeOptions are the token and API URL of provider, for repo.
func (c *config) forgeOptions(provider, repo string) (forge.Options, error) {
	fc := &c.forge
	o := forge.Options{Repo: repo, Token: fc.githubToken, APIURL: fc.githubAPIURL}
	env := "DROVER_GITHUB_TOKEN"
	if provider == forge.GitLab {
		o = forge.Options{Repo: repo, Token: fc.gitlabToken, APIURL: fc.gitlabURL}
		env = "DROVER_GITLAB_TOKEN"
	}
	if o.Token == "" {
		return o, fmt.Errorf("%s: no token: set %s", provider, env)
	}
	return o, nil
}

// repoFlag is the flag naming provider's repository.
func repoFlag(provider string) string {
	if provider == forge.GitLab {
		return "--gitlab-project"
	}
	return "--github-repo"
}

// sourceForge are the options of provider for source s's repository.
func (c *config) sourceForge(provider string, s sourceConfig) (forge.Options, error) {
	repo := forgeRepo(s, provider)
	switch {
	case repo == "" && s.name == "":
		return forge.Options{}, fmt.Errorf("%s: no repository: set %s (--repo is not a %s URL)", provider, repoFlag(provider), provider)
	case repo == "":
		attr := map[string]string{forge.GitHub: "github_repo", forge.GitLab: "gitlab_project"}[provider]
		return forge.Options{}, fmt.Errorf("%s: source %q: no repository: set %s in its block (its repo is not a %s URL)", provider, s.name, attr, provider)
	}
	return c.forgeOptions(provider, repo)
}

// statusOptions are, per source, where --status sets its jobs' commit
// statuses: each source's own repository.
func (c *config) statusOptions() (map[string]forge.Options, error) {
	if c.forge.status == "" {
		return nil, nil
	}
	out := map[string]forge.Options{}
	for _, s := range c.sources {
		o, err := c.sourceForge(c.forge.status, s)
		if err != nil {
			return nil, err
		}
		out[s.name] = o
	}
	return out, nil
}

// commentOptions are where --comment posts the plan: the pull or merge
// request is in one repository, the flags' source's, the one
// --github-repo / --gitlab-project names, or the one the config file's
// sources are all in.
func (c *config) commentOptions(provider string) (forge.Options, error) {
	if len(c.sources) == 1 && c.sources[0].name == "" {
		return c.sourceForge(provider, c.sources[0])
	}
	flag := repoFlag(provider)
	repo := c.forge.githubRepo
	if provider == forge.GitLab {
		repo = c.forge.gitlabProject
	}
	if repo == "" {
		var repos []string
		for _, s := range c.sources {
			if r := forgeRepo(s, provider); r != "" && !slices.Contains(repos, r) {
				repos = append(repos, r)
			}
		}
		if len(repos) != 1 {
			return forge.Options{}, fmt.Errorf("--comment %s: the sources are in %d %s repositories (%s): name the request's with %s",
				provider, len(repos), provider, strings.Join(repos, ", "), flag)
		}
		repo = repos[0]
	}
	return c.forgeOptions(provider, repo)
}

// webRepo is the followed repository's web address, for commit links.
func (c *config) webRepo() forge.Repo {
	if r, ok := forge.ParseRepoURL(c.repo); ok {
		return r
	}
	fc := &c.forge
	api := strings.TrimSuffix(fc.githubAPIURL, "/")
	switch {
	case fc.githubRepo != "" && api == "https://api.github.com":
		return forge.Repo{Provider: forge.GitHub, Path: fc.githubRepo, Web: "https://github.com/" + fc.githubRepo}
	case fc.githubRepo != "" && strings.HasSuffix(api, "/api/v3"):
		// GitHub Enterprise Server serves its pages at the API's host.
		return forge.Repo{Provider: forge.GitHub, Path: fc.githubRepo, Web: strings.TrimSuffix(api, "/api/v3") + "/" + fc.githubRepo}
	case fc.gitlabProject != "" && strings.Contains(fc.gitlabProject, "/"):
		return forge.Repo{Provider: forge.GitLab, Path: fc.gitlabProject, Web: strings.TrimSuffix(fc.gitlabURL, "/") + "/" + fc.gitlabProject}
	}
	return forge.Repo{}
}

func (c *config) notifyTargets() ([]notify.Target, error) {
	var ts []notify.Target
	for _, raw := range c.forge.notify {
		t, err := notify.ParseTarget(raw)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// postPlanComment puts the plan on the pull or merge request.
func postPlanComment(ctx context.Context, c *config, report *reconcile.Report, stderr io.Writer) error {
	provider := c.forge.comment
	o, err := c.commentOptions(provider)
	if err != nil {
		return err
	}
	fg, err := forge.New(provider, o)
	if err != nil {
		return err
	}
	number := c.forge.pr
	if provider == forge.GitLab {
		number = c.forge.mr
	}
	body := forge.RenderPlan(report, forge.Plan{Instance: c.instance, Commit: report.Revision, CommitURL: c.webRepo().CommitURL(report.Revision)})
	ctx, cancel := context.WithTimeout(ctx, commentTimeout)
	defer cancel()
	link, created, err := fg.UpsertComment(ctx, number, forge.Marker(c.instance), body)
	if err != nil {
		return err
	}
	verb := "updated"
	if created {
		verb = "posted"
	}
	fmt.Fprintf(stderr, "drover plan: comment %s on %s %s #%d %s\n", verb, provider, o.Repo, number, link)
	return nil
}

// startFeedback sets commit statuses and sends notifications from the
// bus's events until ctx ends. Only the leader syncs and watches rollouts,
// so only the leader's bus carries the events that set statuses: a
// standby sends nothing but its own leadership changes.
func startFeedback(ctx context.Context, c *config, bus *events.Bus, m *metrics.Metrics, log zerolog.Logger) (map[string]string, error) {
	describe := map[string]string{"status": "disabled"}
	// Registered (at zero) whether or not --notify is set: alerts and
	// dashboards find the series on every agent.
	counter := metrics.NewNotifications(m)
	targets, err := c.notifyTargets()
	if err != nil {
		return nil, err
	}
	if c.forge.status == "" && len(targets) == 0 {
		return describe, nil
	}
	o := feedback.Options{
		Instance: c.instance, PublicURL: c.forge.publicURL, Repo: c.webRepo(),
		FailingAfter: c.forge.notifyAfterFailing, DryRun: c.dryRun, Logger: log,
	}
	if c.forge.status != "" {
		byName, err := c.statusOptions()
		if err != nil {
			return nil, err
		}
		o.Statuses = map[string]forge.Forge{}
		var repos []string
		for _, s := range c.sources {
			fo := byName[s.name]
			if o.Statuses[s.name], err = forge.New(c.forge.status, fo); err != nil {
				return nil, err
			}
			if !slices.Contains(repos, fo.Repo) {
				repos = append(repos, fo.Repo)
			}
		}
		describe["status"] = c.forge.status + " " + strings.Join(repos, ", ")
	}
	if len(targets) > 0 {
		var names []string
		for _, t := range targets {
			names = append(names, t.Format+" "+t.Redacted())
		}
		describe["notify"] = strings.Join(names, ", ")
		o.Notifier = notify.New(ctx, targets, notify.Options{
			Source: "drover/" + c.instance, Count: counter.Delivered, Logger: log,
		})
	}
	// Subscribed before the agent starts, so no event of the first cycle
	// is missed; the buffer absorbs a burst (a cycle of many jobs).
	feed := bus.Subscribe(ctx, 1000)
	go feedback.New(o).Run(ctx, feed)
	return describe, nil
}
