package jobs

import (
	"fmt"
)

// DefaultMaxFileSize caps a job file and a var file when
// Loader.MaxFileSize is zero. It is Nomad's own default for
// job_max_source_size ("1M"): past it Nomad registers the job but drops the
// source (job file plus variables) drover sends as its submission, and a
// hostile or mistaken file of many megabytes would otherwise be read into
// memory whole, copied into every parse request and cached.
const DefaultMaxFileSize int64 = 1_000_000

// Sizer is a Tree that can tell a file's size without reading it, so an
// oversized file is refused before it is loaded into memory. For a path
// Files does not list, the error wraps fs.ErrNotExist, as ReadFile's does.
type Sizer interface {
	Size(path string) (int64, error)
}

// SymlinkLister is a Tree that can list the symlinks Files leaves out, so
// that a job file committed as a symlink is reported instead of silently
// missing.
type SymlinkLister interface {
	// Symlinks lists every symlink as a sorted, slash-separated,
	// repo-relative path.
	Symlinks() ([]string, error)
}

// Skipped is a path that looks like a job file and was not read.
type Skipped struct {
	Path   string
	Reason string
}

// skippedSymlink is the reason given for a symlinked job file.
const skippedSymlink = "symlink: drover reads only regular files; commit the job file itself"

// FileTooLargeError is a job or var file over the size cap.
type FileTooLargeError struct {
	Path string
	// Kind is "job file" or "var file".
	Kind  string
	Size  int64
	Limit int64
}

func (e *FileTooLargeError) Error() string {
	return fmt.Sprintf("%s: %d bytes, over the %d-byte limit for a %s", e.Path, e.Size, e.Limit, e.Kind)
}

// readLimited reads path from tree unless it is over limit bytes. A tree
// that is a Sizer is asked first, so an oversized file is never read; any
// other tree's file is checked once read.
func readLimited(tree Tree, path, kind string, limit int64) ([]byte, error) {
	if s, ok := tree.(Sizer); ok {
		size, err := s.Size(path)
		if err != nil {
			return nil, err
		}
		if size > limit {
			return nil, &FileTooLargeError{Path: path, Kind: kind, Size: size, Limit: limit}
		}
	}
	src, err := tree.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if size := int64(len(src)); size > limit {
		return nil, &FileTooLargeError{Path: path, Kind: kind, Size: size, Limit: limit}
	}
	return src, nil
}

func maxFileSize(n int64) int64 {
	if n <= 0 {
		return DefaultMaxFileSize
	}
	return n
}
