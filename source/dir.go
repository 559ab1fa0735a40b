package source

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DirSnapshot is a read-only view of a plain local directory, with the
// same methods as Snapshot. It reads the directory live: it is not frozen
// at the time Dir was called.
type DirSnapshot struct {
	root string
}

// Dir returns a view of the directory at path. Any .git directory inside
// is ignored.
func Dir(path string) (*DirSnapshot, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open directory %s: %w", path, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("open directory %s: not a directory", abs)
	}
	return &DirSnapshot{root: abs}, nil
}

// Revision returns "": a directory has no commit.
func (d *DirSnapshot) Revision() string { return "" }

// Files returns every regular file under the directory as a sorted,
// slash-separated, relative path. Symlinks (see Symlinks) and .git
// directories are left out, as Snapshot leaves out symlinks.
func (d *DirSnapshot) Files() ([]string, error) {
	files, err := d.walk(fs.FileMode.IsRegular)
	if err != nil {
		return nil, fmt.Errorf("list files in %s: %w", d.root, err)
	}
	return files, nil
}

// Symlinks returns every symlink under the directory, sorted like Files.
// None is followed or read.
func (d *DirSnapshot) Symlinks() ([]string, error) {
	links, err := d.walk(func(m fs.FileMode) bool { return m&fs.ModeSymlink != 0 })
	if err != nil {
		return nil, fmt.Errorf("list symlinks in %s: %w", d.root, err)
	}
	return links, nil
}

// walk lists the entries whose type keep accepts, outside .git.
func (d *DirSnapshot) walk(keep func(fs.FileMode) bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && e.Name() == ".git" {
			return filepath.SkipDir
		}
		if !keep(e.Type()) {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// Size returns the size of a file Files lists without reading it. For any
// other path the error wraps fs.ErrNotExist, as ReadFile's does.
func (d *DirSnapshot) Size(path string) (int64, error) {
	root, info, err := d.open(path)
	if err != nil {
		return 0, fmt.Errorf("size of %s in %s: %w", path, d.root, err)
	}
	root.Close()
	return info.Size(), nil
}

// ReadFile returns the content of a file Files lists. For any other path,
// including one through a symlink or outside the directory, the error
// wraps fs.ErrNotExist.
func (d *DirSnapshot) ReadFile(path string) ([]byte, error) {
	data, err := d.readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", path, d.root, err)
	}
	return data, nil
}

func (d *DirSnapshot) readFile(path string) ([]byte, error) {
	root, _, err := d.open(path)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.ReadFile(filepath.FromSlash(path))
}

// open checks that path is a file Files lists and returns the directory,
// opened as an os.Root, and the file's info. The caller closes the root.
func (d *DirSnapshot) open(path string) (*os.Root, fs.FileInfo, error) {
	if !fs.ValidPath(path) || path == "." || hasGitDir(path) {
		return nil, nil, fs.ErrNotExist
	}
	// os.Root refuses paths and symlinks that leave the directory.
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, nil, err
	}
	// Like Files, follow no symlinks: every parent must be a real directory
	// and the file itself a regular file.
	elems := strings.Split(path, "/")
	var info fs.FileInfo
	for i := range elems {
		info, err = root.Lstat(filepath.Join(elems[:i+1]...))
		if err != nil {
			root.Close()
			return nil, nil, err
		}
		last := i == len(elems)-1
		if (!last && !info.IsDir()) || (last && !info.Mode().IsRegular()) {
			root.Close()
			return nil, nil, fs.ErrNotExist
		}
	}
	return root, info, nil
}

func hasGitDir(path string) bool {
	for _, elem := range strings.Split(path, "/") {
		if elem == ".git" {
			return true
		}
	}
	return false
}
