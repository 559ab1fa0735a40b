package jobs

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// DefaultInclude are the globs that select job files when none are given.
var DefaultInclude = []string{"**/*.nomad", "**/*.nomad.hcl"}

// Selector picks job files out of a tree. Globs support `**` and are matched
// against the path relative to each of Dirs.
type Selector struct {
	// Dirs are repo-relative directories to search; empty means the root.
	Dirs []string
	// Include defaults to DefaultInclude.
	Include []string
	Exclude []string
}

// Validate reports a malformed glob, and a directory that is not inside the
// repository, before any file is read. Such a directory would otherwise be
// cleaned into the root ("../..") or find nothing ("/etc"), and a wrong
// --path would deploy, or prune, the wrong jobs without a word.
func (s Selector) Validate() error {
	for _, d := range s.Dirs {
		if err := validDir(d); err != nil {
			return &SelectorError{Setting: "path", Value: d, Err: err}
		}
	}
	for _, set := range []struct {
		name  string
		globs []string
	}{{"include", s.include()}, {"exclude", s.Exclude}} {
		for _, g := range set.globs {
			if !doublestar.ValidatePattern(g) {
				return &SelectorError{Setting: set.name, Value: g, Err: errInvalidGlob}
			}
		}
	}
	return nil
}

var errInvalidGlob = errors.New("invalid glob")

// SelectorError is a Selector setting that cannot be used. Its message
// names the flag; a config file names its own attribute from Setting.
type SelectorError struct {
	// Setting is "path", "include" or "exclude", the flag's name.
	Setting string
	Value   string
	Err     error
}

func (e *SelectorError) Error() string {
	if e.Err == errInvalidGlob {
		return fmt.Sprintf("invalid glob %q", e.Value)
	}
	return fmt.Sprintf("--%s %q: %v", e.Setting, e.Value, e.Err)
}

func (e *SelectorError) Unwrap() error { return e.Err }

// validDir accepts a slash-separated directory relative to the repository
// root that stays inside it once cleaned ("a/../b" is "b").
func validDir(d string) error {
	if path.IsAbs(d) || filepath.IsAbs(d) || filepath.VolumeName(d) != "" {
		return errors.New("must be a directory relative to the repository root, not an absolute path")
	}
	if c := path.Clean(d); c == ".." || strings.HasPrefix(c, "../") {
		return errors.New("leaves the repository: it must name a directory inside it")
	}
	return nil
}

func (s Selector) include() []string {
	if len(s.Include) == 0 {
		return DefaultInclude
	}
	return s.Include
}

// Select returns the sorted job file paths among files.
func (s Selector) Select(files []string) []string {
	dirs := s.Dirs
	if len(dirs) == 0 {
		dirs = []string{""}
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		for _, d := range dirs {
			rel, ok := within(d, f)
			if !ok || !matchAny(s.include(), rel) || matchAny(s.Exclude, rel) {
				continue
			}
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out
}

// within returns file relative to dir when file lies under dir.
func within(dir, file string) (string, bool) {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir == "" {
		return file, true
	}
	rel, ok := strings.CutPrefix(file, dir+"/")
	return rel, ok
}

func matchAny(globs []string, p string) bool {
	for _, g := range globs {
		if ok, _ := doublestar.Match(g, p); ok {
			return true
		}
	}
	return false
}
