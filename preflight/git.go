package preflight

import (
	"context"
	"errors"

	"github.com/drover-dev/drover/source"
)

// GitCheck checks the repository: the remote answers, the credentials are
// accepted, the ref resolves and, over SSH, the host key is known. Fetch
// does all of it at once, as the first cycle would.
type GitCheck struct {
	// Name is the source's, "" for the one --repo.
	Name, URL, Ref string
	Fetch          func(ctx context.Context) error
}

func (g *GitCheck) run(ctx context.Context) []Check {
	label := "git: " + g.URL
	if g.Name != "" {
		label = "git: source " + g.Name + " (" + g.URL + ")"
	}
	c := Check{Name: label + " at " + g.Ref, OK: true}
	err := g.Fetch(ctx)
	if err == nil {
		return []Check{c}
	}
	c.OK, c.Detail = false, err.Error()
	switch {
	case errors.Is(err, source.ErrAuthRefused):
		c.Fix = "give a token with read access to the repository: --git-token (DROVER_GIT_TOKEN), with --git-username when the host needs one"
	case errors.Is(err, source.ErrHostKey):
		c.Fix = "add the server's host key to --ssh-known-hosts: ssh-keyscan HOST >> known_hosts, checked against the host's published fingerprint"
	case errors.Is(err, source.ErrRefNotFound):
		c.Fix = "set --ref to a branch, tag or commit the remote has"
	default:
		c.Fix = "check --repo and that this host can reach it"
	}
	return []Check{c}
}
