package source

import (
	"context"
	"errors"
	"fmt"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Fetch brings the clone up to date with the remote and returns a Snapshot
// of the commit the ref now points at. Nothing new to fetch is not an error.
func (r *Repo) Fetch(ctx context.Context) (*Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.git == nil {
		repo, err := r.clone(ctx)
		if err != nil {
			return nil, r.redact.wrap(fmt.Errorf("clone %s: %w", r.url, kindOf(err)))
		}
		r.git = repo
	} else if err := fetch(ctx, r.git, r.auth); err != nil {
		return nil, r.redact.wrap(fmt.Errorf("fetch %s: %w", r.url, kindOf(err)))
	}
	hash, name, err := r.resolve(ctx)
	if err != nil {
		return nil, r.redact.wrap(fmt.Errorf("resolve %s in %s: %w", r.refLabel(), r.url, kindOf(err)))
	}
	r.setRefName(name)
	return r.snapshot(hash)
}

func fetch(ctx context.Context, repo *git.Repository, auth transport.AuthMethod) error {
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   fetchSpecs,
		Auth:       authFor(ctx, auth),
		Tags:       git.NoTags, // fetchSpecs already carries refs/tags/*, forced
		Prune:      true,
		Force:      true,
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

func (r *Repo) refLabel() string {
	if r.ref == "" {
		return "the default branch"
	}
	return fmt.Sprintf("ref %q", r.ref)
}

// resolve turns the configured ref into a commit hash, and names the ref
// on the remote that it came from (the SHA itself for a commit). A name is
// tried as a branch, then as a tag.
func (r *Repo) resolve(ctx context.Context) (plumbing.Hash, string, error) {
	if isFullSHA(r.ref) {
		h := plumbing.NewHash(r.ref)
		_, err := r.git.CommitObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return plumbing.ZeroHash, "", fmt.Errorf("commit is not in the fetched history: %w", ErrRefNotFound)
		}
		if err != nil {
			return plumbing.ZeroHash, "", err
		}
		return h, r.ref, nil
	}
	branch := r.ref
	if branch == "" {
		var err error
		if branch, err = r.defaultBranch(ctx); err != nil {
			return plumbing.ZeroHash, "", err
		}
	}
	ref, err := r.git.Reference(plumbing.NewRemoteReferenceName("origin", branch), true)
	if err == nil {
		return ref.Hash(), plumbing.NewBranchReferenceName(branch).String(), nil
	}
	if !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, "", err
	}
	if r.ref == "" {
		return plumbing.ZeroHash, "", fmt.Errorf("default branch %q: %w", branch, ErrRefNotFound)
	}
	tag := plumbing.NewTagReferenceName(r.ref)
	ref, err = r.git.Reference(tag, true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		hint := ""
		if isHex(r.ref) {
			hint = " (commit SHAs must be given in full, 40 hex digits)"
		}
		return plumbing.ZeroHash, "", fmt.Errorf("no such branch or tag%s: %w", hint, ErrRefNotFound)
	}
	if err != nil {
		return plumbing.ZeroHash, "", err
	}
	h, err := peel(r.git, ref.Hash())
	return h, tag.String(), err
}

// defaultBranch asks the remote where its HEAD points and records the
// answer as the clone's HEAD. If the remote does not say (its HEAD is
// unborn), the clone's HEAD from an earlier answer is used.
func (r *Repo) defaultBranch(ctx context.Context) (string, error) {
	remote, err := r.git.Remote("origin")
	if err != nil {
		return "", err
	}
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: authFor(ctx, r.auth)})
	if err != nil {
		return "", fmt.Errorf("list remote refs: %w", err)
	}
	for _, ref := range refs {
		if ref.Name() == plumbing.HEAD && ref.Type() == plumbing.SymbolicReference && ref.Target().IsBranch() {
			// Recorded already: spare every quiet cycle a file write.
			if cur, err := r.git.Storer.Reference(plumbing.HEAD); err == nil && cur.Type() == plumbing.SymbolicReference && cur.Target() == ref.Target() {
				return ref.Target().Short(), nil
			}
			head := plumbing.NewSymbolicReference(plumbing.HEAD, ref.Target())
			if err := r.git.Storer.SetReference(head); err != nil {
				return "", fmt.Errorf("record default branch: %w", err)
			}
			return ref.Target().Short(), nil
		}
	}
	// The clone's HEAD starts as go-git's init default (master), so it only
	// counts if the remote has that branch.
	head, err := r.git.Storer.Reference(plumbing.HEAD)
	if err == nil && head.Type() == plumbing.SymbolicReference && head.Target().IsBranch() {
		branch := head.Target().Short()
		if _, err := r.git.Reference(plumbing.NewRemoteReferenceName("origin", branch), false); err == nil {
			return branch, nil
		}
	}
	return "", fmt.Errorf("the remote's HEAD names no branch; set a ref: %w", ErrRefNotFound)
}

// peel follows annotated tags (possibly tags of tags) to the commit.
func peel(repo *git.Repository, h plumbing.Hash) (plumbing.Hash, error) {
	for range 16 {
		obj, err := repo.Object(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read object %s: %w", h, err)
		}
		switch o := obj.(type) {
		case *object.Commit:
			return h, nil
		case *object.Tag:
			h = o.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("tag points at a %s, not a commit", obj.Type())
		}
	}
	return plumbing.ZeroHash, errors.New("tag chain too deep")
}

func isFullSHA(s string) bool { return len(s) == 40 && isHex(s) }

func isHex(s string) bool {
	if s == "" {
		return false
	}
	return strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// kindOf marks a refused credential with ErrAuthRefused, so callers can
// tell it from a failure worth retrying with errors.Is.
func kindOf(err error) error {
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return fmt.Errorf("%w: %w", ErrAuthRefused, err)
	}
	return err
}

// SnapshotAt returns a view of a commit, fetching it by SHA when the clone
// does not have it: a rollback's last good commit may predate a fresh
// --data-dir, or have dropped out of every branch after a force-push while
// the remote still keeps it. The error wraps ErrRefNotFound when the remote
// does not have it either.
func (r *Repo) SnapshotAt(ctx context.Context, sha string) (*Snapshot, error) {
	s, err := r.Snapshot(sha)
	if err == nil || !errors.Is(err, ErrRefNotFound) {
		return s, err
	}
	sha = strings.ToLower(sha)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.git == nil {
		return nil, err
	}
	// Kept under a ref of drover's own: the mirrored branch and tag specs
	// prune everything else.
	spec := config.RefSpec(sha + ":refs/drover/commits/" + sha)
	ferr := r.git.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{spec},
		Auth:       authFor(ctx, r.auth),
		Tags:       git.NoTags,
	})
	if ferr != nil && !errors.Is(ferr, git.NoErrAlreadyUpToDate) {
		if ctx.Err() != nil {
			return nil, r.redact.wrap(fmt.Errorf("fetch commit %s from %s: %w", sha, r.url, kindOf(ferr)))
		}
		return nil, r.redact.wrap(fmt.Errorf("commit %s is neither in the clone nor fetchable from %s (history rewritten?): %v: %w", sha, r.url, ferr, ErrRefNotFound))
	}
	return r.snapshot(plumbing.NewHash(sha))
}
