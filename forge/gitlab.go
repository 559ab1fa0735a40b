package forge

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// gitlabDescriptionLimit is the longest commit status description GitLab
// stores.
const gitlabDescriptionLimit = 255

type gitlabForge struct {
	client  *gitlab.Client
	project string
}

func newGitLab(o Options) (*gitlabForge, error) {
	base := o.APIURL
	if base == "" {
		base = "https://gitlab.com"
	}
	c, err := gitlab.NewClient(o.Token,
		gitlab.WithBaseURL(strings.TrimSuffix(base, "/")+"/api/v4"),
		gitlab.WithHTTPClient(&http.Client{}),
		// drover's own queue retries, with its own backoff and deadline.
		gitlab.WithCustomRetryMax(0),
		gitlab.WithURLWarningLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab client for %s: %w", base, err)
	}
	return &gitlabForge{client: c, project: o.Repo}, nil
}

func (g *gitlabForge) DescriptionLimit() int { return gitlabDescriptionLimit }

func (g *gitlabForge) UpsertComment(ctx context.Context, number int, marker, body string) (string, bool, error) {
	mr := int64(number)
	id, err := g.findNote(ctx, mr, marker)
	if err != nil {
		return "", false, err
	}
	if id != 0 {
		_, _, err := g.client.Notes.UpdateMergeRequestNote(g.project, mr, id,
			&gitlab.UpdateMergeRequestNoteOptions{Body: gitlab.Ptr(body)}, gitlab.WithContext(ctx))
		if err != nil {
			return "", false, fmt.Errorf("edit note %d on %s!%d: %w", id, g.project, mr, err)
		}
		return "", false, nil
	}
	_, _, err = g.client.Notes.CreateMergeRequestNote(g.project, mr,
		&gitlab.CreateMergeRequestNoteOptions{Body: gitlab.Ptr(body)}, gitlab.WithContext(ctx))
	if err != nil {
		return "", false, fmt.Errorf("comment on %s!%d: %w", g.project, mr, err)
	}
	return "", true, nil
}

func (g *gitlabForge) findNote(ctx context.Context, mr int64, marker string) (int64, error) {
	opts := &gitlab.ListMergeRequestNotesOptions{ListOptions: gitlab.ListOptions{PerPage: 100, Page: 1}}
	for {
		notes, resp, err := g.client.Notes.ListMergeRequestNotes(g.project, mr, opts, gitlab.WithContext(ctx))
		if err != nil {
			return 0, fmt.Errorf("list notes of %s!%d: %w", g.project, mr, err)
		}
		for _, n := range notes {
			if !n.System && strings.Contains(n.Body, marker) {
				return n.ID, nil
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return 0, nil
		}
		opts.Page = resp.NextPage
	}
}

// gitlabState maps GitHub's status words to GitLab's: GitLab has no
// "error"; a refused register is a failed deploy there.
func gitlabState(s string) (gitlab.BuildStateValue, bool) {
	switch s {
	case Pending:
		return gitlab.Pending, true
	case Success:
		return gitlab.Success, true
	case Failure, Error:
		return gitlab.Failed, true
	}
	return "", false
}

func (g *gitlabForge) SetStatus(ctx context.Context, s Status) error {
	state, ok := gitlabState(s.State)
	if !ok {
		return fmt.Errorf("status state %q: want pending, success, failure or error", s.State)
	}
	opts := &gitlab.SetCommitStatusOptions{
		State:       state,
		Name:        gitlab.Ptr(s.Context),
		Description: gitlab.Ptr(Shorten(s.Description, gitlabDescriptionLimit)),
	}
	if s.TargetURL != "" {
		opts.TargetURL = gitlab.Ptr(s.TargetURL)
	}
	if _, _, err := g.client.Commits.SetCommitStatus(g.project, s.Commit, opts, gitlab.WithContext(ctx)); err != nil {
		return fmt.Errorf("set status %s of %.12s on %s: %w", s.Context, s.Commit, g.project, err)
	}
	return nil
}
