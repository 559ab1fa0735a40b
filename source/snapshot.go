package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/drover-dev/drover/jobs"
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
	info   jobs.CommitInfo

	// files and links are the tree's listing, walked once: a commit's tree
	// never changes. Guarded by repo.mu; listed says they are filled.
	listed       bool
	files, links []string
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
	c, tree, err := r.tree(h)
	if err != nil {
		return nil, r.redact.wrap(fmt.Errorf("snapshot %s of %s: %w", h, r.url, err))
	}
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	info := jobs.CommitInfo{Subject: subject, Author: c.Author.Name, Time: c.Author.When.UTC()}
	return &Snapshot{repo: r, commit: h, tree: tree, info: info}, nil
}

// CommitInfo says who made the commit, when, and its subject line.
func (s *Snapshot) CommitInfo() jobs.CommitInfo { return s.info }

// tree returns commit h and its root tree; it needs r.mu held.
func (r *Repo) tree(h plumbing.Hash) (*object.Commit, *object.Tree, error) {
	if r.git == nil {
		return nil, nil, fmt.Errorf("commit %s: nothing fetched yet: %w", h, ErrRefNotFound)
	}
	c, err := r.git.CommitObject(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, nil, fmt.Errorf("commit %s is not in the clone: %w", h, ErrRefNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	t, err := c.Tree()
	return c, t, err
}

// Revision returns the full commit SHA.
func (s *Snapshot) Revision() string { return s.commit.String() }

// Files returns every regular file (executable or not) in the commit as a
// sorted, slash-separated, repository-relative path. Symlinks (see
// Symlinks) and submodules are left out.
func (s *Snapshot) Files() ([]string, error) {
	return s.copyOf("files", func() []string { return s.files })
}

// Symlinks returns every symlink in the commit, sorted like Files. A
// symlink is never read: its target may lie outside the repository, or be
// another file whose history a rollback would not follow.
func (s *Snapshot) Symlinks() ([]string, error) {
	return s.copyOf("symlinks", func() []string { return s.links })
}

// copyOf walks the tree unless it was walked already and returns a copy of
// the list which picks from the walk (files or links); what names that
// list in an error.
func (s *Snapshot) copyOf(what string, which func() []string) ([]string, error) {
	s.repo.mu.Lock()
	defer s.repo.mu.Unlock()
	if err := s.list(); err != nil {
		return nil, s.repo.redact.wrap(fmt.Errorf("list %s at %s: %w", what, s.commit, err))
	}
	return slices.Clone(which()), nil
}

// list walks the tree unless it was walked already; it needs repo.mu held.
func (s *Snapshot) list() error {
	if s.listed {
		return nil
	}
	files, links, err := treeEntries(s.tree)
	if err != nil {
		return err
	}
	s.files, s.links, s.listed = files, links, true
	return nil
}

// Size returns the size of a file Files lists, from the object store's
// header of its blob: the content is not read, so an oversized file costs
// no memory. For any other path the error wraps fs.ErrNotExist.
func (s *Snapshot) Size(path string) (int64, error) {
	s.repo.mu.Lock()
	defer s.repo.mu.Unlock()
	size, err := s.size(path)
	if err != nil {
		return 0, s.repo.redact.wrap(fmt.Errorf("size of %s at %s: %w", path, s.commit, err))
	}
	return size, nil
}

// objectSizer is implemented by go-git's object stores (filesystem and
// memory): the size of an object without reading its content.
type objectSizer interface {
	EncodedObjectSize(h plumbing.Hash) (int64, error)
}

func (s *Snapshot) size(path string) (int64, error) {
	_, entry, err := findTreeFile(s.tree, path)
	if err != nil {
		return 0, err
	}
	if st, ok := s.repo.git.Storer.(objectSizer); ok {
		return st.EncodedObjectSize(entry.Hash)
	}
	blob, err := object.GetBlob(s.repo.git.Storer, entry.Hash)
	if err != nil {
		return 0, err
	}
	return blob.Size, nil
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

// treeFiles lists the regular files of tree, sorted.
func treeFiles(tree *object.Tree) ([]string, error) {
	files, _, err := treeEntries(tree)
	return files, err
}

// treeEntries lists the regular files and the symlinks of tree. It reads
// trees only, never a blob.
func treeEntries(tree *object.Tree) (files, links []string, err error) {
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	for {
		name, entry, err := w.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		switch {
		case isRegular(entry.Mode):
			files = append(files, name)
		case entry.Mode == filemode.Symlink:
			links = append(links, name)
		}
	}
	// Tree order puts "a/x" before "a.b"; callers want plain string order.
	sort.Strings(files)
	sort.Strings(links)
	return files, links, nil
}

func readTreeFile(tree *object.Tree, path string) ([]byte, error) {
	dir, entry, err := findTreeFile(tree, path)
	if err != nil {
		return nil, err
	}
	f, err := dir.TreeEntryFile(entry)
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

// findTreeFile returns the regular file at path and the tree holding it;
// for anything else the error is fs.ErrNotExist.
func findTreeFile(tree *object.Tree, path string) (*object.Tree, *object.TreeEntry, error) {
	if !fs.ValidPath(path) || path == "." {
		return nil, nil, fs.ErrNotExist
	}
	// Walk one element at a time: go-git's FindEntry on "file/x" tries to
	// load the blob "file" as a tree and reports a missing object.
	dir, name := tree, path
	for {
		first, rest, nested := strings.Cut(name, "/")
		entry, err := dir.FindEntry(first)
		if errors.Is(err, object.ErrEntryNotFound) {
			return nil, nil, fs.ErrNotExist
		}
		if err != nil {
			return nil, nil, err
		}
		if !nested {
			if !isRegular(entry.Mode) {
				return nil, nil, fs.ErrNotExist
			}
			return dir, entry, nil
		}
		if entry.Mode != filemode.Dir {
			return nil, nil, fs.ErrNotExist
		}
		if dir, err = dir.Tree(first); err != nil {
			return nil, nil, err
		}
		name = rest
	}
}

func isRegular(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Deprecated
}
