package forge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-github/v75/github"
)

// githubDescriptionLimit is the longest description GitHub's statuses API
// accepts.
const githubDescriptionLimit = 140

type githubForge struct {
	client      *github.Client
	owner, name string
}

func newGitHub(o Options) (*githubForge, error) {
	owner, name, ok := strings.Cut(o.Repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("github repository %q: want owner/name", o.Repo)
	}
	c := github.NewClient(&http.Client{}).WithAuthToken(o.Token)
	if o.APIURL != "" {
		base := strings.TrimSuffix(o.APIURL, "/") + "/"
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("github API URL %q: %w", o.APIURL, err)
		}
		c.BaseURL = u
	}
	return &githubForge{client: c, owner: owner, name: name}, nil
}

func (g *githubForge) DescriptionLimit() int { return githubDescriptionLimit }

func (g *githubForge) UpsertComment(ctx context.Context, number int, marker, body string) (string, bool, error) {
	id, err := g.findComment(ctx, number, marker)
	if err != nil {
		return "", false, err
	}
	c := &github.IssueComment{Body: github.Ptr(body)}
	if id != 0 {
		got, _, err := g.client.Issues.EditComment(ctx, g.owner, g.name, id, c)
		if err != nil {
			return "", false, fmt.Errorf("edit comment %d on %s/%s#%d: %w", id, g.owner, g.name, number, err)
		}
		return got.GetHTMLURL(), false, nil
	}
	got, _, err := g.client.Issues.CreateComment(ctx, g.owner, g.name, number, c)
	if err != nil {
		return "", false, fmt.Errorf("comment on %s/%s#%d: %w", g.owner, g.name, number, err)
	}
	return got.GetHTMLURL(), true, nil
}

// findComment returns the ID of the pull request's comment holding
// marker, 0 when there is none.
func (g *githubForge) findComment(ctx context.Context, number int, marker string) (int64, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		cs, resp, err := g.client.Issues.ListComments(ctx, g.owner, g.name, number, opts)
		if err != nil {
			return 0, fmt.Errorf("list comments of %s/%s#%d: %w", g.owner, g.name, number, err)
		}
		for _, c := range cs {
			if strings.Contains(c.GetBody(), marker) {
				return c.GetID(), nil
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return 0, nil
		}
		opts.Page = resp.NextPage
	}
}

func (g *githubForge) SetStatus(ctx context.Context, s Status) error {
	st := &github.RepoStatus{
		State:       github.Ptr(s.State),
		Context:     github.Ptr(s.Context),
		Description: github.Ptr(Shorten(s.Description, githubDescriptionLimit)),
	}
	if s.TargetURL != "" {
		st.TargetURL = github.Ptr(s.TargetURL)
	}
	if _, _, err := g.client.Repositories.CreateStatus(ctx, g.owner, g.name, s.Commit, st); err != nil {
		return fmt.Errorf("set status %s of %.12s on %s/%s: %w", s.Context, s.Commit, g.owner, g.name, err)
	}
	return nil
}
