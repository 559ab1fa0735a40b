package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Snapshot is a read-only view of the repository at one commit, read
// straight from the commit's tree. It stays valid after later fetches.
type Snapshot struct {
	repo   *Repo
	commit plumbing.Hash
	tree   *object.Tree
}

// Snapshot returns a view of a commit already in the clone, such as the
// last commit that deployed cleanly. sha must be a full 40-hex SHA.
func (r *Repo) Snapshot(sha string) (*Snapshot, error) {
	if !isFullSHA(sha) {
		return nil, fmt.Errorf("snapshot %q of %s: not a full 40-hex commit SHA", sha, r.url)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshot(plumbing.NewHash(strings.ToLower(sha)))
}

// snapshot needs r.mu held.
func (r *Repo) snapshot(h plumbing.Hash) (*Snapshot, error) {
	tree, err := r.tree(h)
	if err != nil {
		return nil, r.redact.wrap(fmt.Errorf("snapshot %s of %s: %w", h, r.url, err))
	}
	return &Snapshot{repo: r, commit: h, tree: tree}, nil
}

// tree returns the root tree of commit h; it needs r.mu held.
func (r *Repo) tree(h plumbing.Hash) (*object.Tree, error) {
	if r.git == nil {
		return nil, fmt.Errorf("commit %s: nothing fetched yet: %w", h, ErrRefNotFound)
	}
	c, err := r.git.CommitObject(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("commit %s is not in the clone: %w", h, ErrRefNotFound)
	}
	if err != nil {
		return nil, err
	}
	return c.Tree()
}

// Revision returns the full commit SHA.
func (s *Snapshot) Revision() string { return s.commit.String() }

// Files returns every regular file (executable or not) in the commit as a
// sorted, slash-separated, repository-relative path. Symlinks and
// submodules are left out.
func (s *Snapshot) Files() ([]string, error) {
	s.repo.mu.Lock()
	defer s.repo.mu.Unlock()
	files, err := treeFiles(s.tree)
	if err != nil {
		return nil, s.repo.redact.wrap(fmt.Errorf("list files at %s: %w", s.commit, err))
	}
	return files, nil
}

// ReadFile returns the content of a file Files lists. For any other path
// the error wraps fs.ErrNotExist.
func (s *Snapshot) ReadFile(path string) ([]byte, error) {
	s.repo.mu.Lock()
	defer s.repo.mu.Unlock()
	data, err := readTreeFile(s.tree, path)
	if err != nil {
		return nil, s.repo.redact.wrap(fmt.Errorf("read %s at %s: %w", path, s.commit, err))
	}
	return data, nil
}

func treeFiles(tree *object.Tree) ([]string, error) {
	var files []string
	err := tree.Files().ForEach(func(f *object.File) error {
		if isRegular(f.Mode) {
			files = append(files, f.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Tree order puts "a/x" before "a.b"; callers want plain string order.
	sort.Strings(files)
	return files, nil
}

func readTreeFile(tree *object.Tree, path string) ([]byte, error) {
	if !fs.ValidPath(path) || path == "." {
		return nil, fs.ErrNotExist
	}
	// Walk one element at a time: go-git's FindEntry on "file/x" tries to
	// load the blob "file" as a tree and reports a missing object.
	dir, name := tree, path
	for {
		first, rest, nested := strings.Cut(name, "/")
		entry, err := dir.FindEntry(first)
		if errors.Is(err, object.ErrEntryNotFound) {
			return nil, fs.ErrNotExist
		}
		if err != nil {
			return nil, err
		}
		if !nested {
			if !isRegular(entry.Mode) {
				return nil, fs.ErrNotExist
			}
			break
		}
		if entry.Mode != filemode.Dir {
			return nil, fs.ErrNotExist
		}
		if dir, err = dir.Tree(first); err != nil {
			return nil, err
		}
		name = rest
	}
	f, err := dir.File(name)
	if err != nil {
		return nil, err
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

func isRegular(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Deprecated
}
