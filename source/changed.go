package source

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Changed returns the sorted repository-relative paths of regular files
// that were added, modified or deleted between commits from and to. A
// rename shows as both paths. An empty from means every file of to. A
// commit missing from the clone gives an error wrapping ErrRefNotFound.
func (r *Repo) Changed(from, to string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	paths, err := r.changed(from, to)
	if err != nil {
		return nil, r.redact.wrap(fmt.Errorf("changes %s..%s in %s: %w", from, to, r.url, err))
	}
	return paths, nil
}

func (r *Repo) changed(from, to string) ([]string, error) {
	for _, sha := range []string{from, to} {
		if sha != "" && !isFullSHA(sha) {
			return nil, fmt.Errorf("%q is not a full 40-hex commit SHA", sha)
		}
	}
	if to == "" {
		return nil, fmt.Errorf("no target commit given")
	}
	_, toTree, err := r.tree(plumbing.NewHash(strings.ToLower(to)))
	if err != nil {
		return nil, err
	}
	if from == "" {
		return treeFiles(toTree)
	}
	_, fromTree, err := r.tree(plumbing.NewHash(strings.ToLower(from)))
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTree(fromTree, toTree)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var paths []string
	add := func(e object.ChangeEntry) {
		if e.Name != "" && isRegular(e.TreeEntry.Mode) && !seen[e.Name] {
			seen[e.Name] = true
			paths = append(paths, e.Name)
		}
	}
	for _, c := range changes {
		add(c.From)
		add(c.To)
	}
	sort.Strings(paths)
	return paths, nil
}

// ChangedSince returns the paths that differ between commit rev and the
// snapshot's commit, so a loader can read only those (jobs.ChangeLister).
func (s *Snapshot) ChangedSince(rev string) ([]string, error) {
	return s.repo.Changed(rev, s.commit.String())
}
