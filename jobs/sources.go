package jobs

import (
	"fmt"
	"sort"
	"strings"
)

// SourceOutcome is what one of many sources (--config) gave a cycle.
type SourceOutcome struct {
	Name string
	// Revision is the commit the source's jobs were read at: this cycle's,
	// or the last one read when Err is set; "" when it was never read.
	Revision string
	// Commit describes Revision, when the tree could say.
	Commit *CommitInfo
	// Prune is whether the source's orphans are stopped.
	Prune bool
	// Err is why the source could not be fetched or loaded this cycle: its
	// jobs are held at what was last read and none of its orphans is
	// stopped.
	Err error
}

// SourceSet is one source's outcome and the jobs it gave, nil when it
// has never been read.
type SourceSet struct {
	SourceOutcome
	Set *Set
}

// Merge makes one set of the sets of many sources, in the order given. A
// job declared by two sources is an error on every file declaring it:
// applying either would flap between them. The merged revision names each
// source's commit, name@sha, so it changes whenever one of them does.
func Merge(parts []SourceSet) *Set {
	out := &Set{}
	revs := make([]string, 0, len(parts))
	for _, p := range parts {
		out.Sources = append(out.Sources, p.SourceOutcome)
		revs = append(revs, p.Name+"@"+p.Revision)
		if p.Set == nil {
			continue
		}
		out.Files = append(out.Files, p.Set.Files...)
		for _, s := range p.Set.Skipped {
			s.Path = p.Name + ":" + s.Path
			out.Skipped = append(out.Skipped, s)
		}
	}
	out.Revision = strings.Join(revs, ",")
	markClaimedTwice(out.Files)
	return out
}

// markClaimedTwice fails every file whose job another source declares
// too. Duplicates within one source are the loader's (markDuplicates).
func markClaimedTwice(files []*File) {
	byKey := filesByKey(files)
	keys := make([]Key, 0, len(byKey))
	for k, idx := range byKey {
		if len(idx) > 1 && files[idx[0]].SourceName != files[idx[len(idx)-1]].SourceName {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		idx := byKey[k]
		var by []string
		for _, i := range idx {
			by = append(by, fmt.Sprintf("%s (%s)", files[i].SourceName, files[i].Path))
		}
		failCopies(files, idx, func(f *File) error {
			return fmt.Errorf("%s: job %s is declared by sources %s", f.Path, k, strings.Join(by, " and "))
		})
	}
}

// RevisionOf is the commit f was read at: its source's with many sources,
// the set's otherwise.
func (s *Set) RevisionOf(f *File) string {
	if f.SourceName != "" {
		if o := s.Source(f.SourceName); o != nil {
			return o.Revision
		}
	}
	return s.Revision
}

// Source returns the outcome of the named source, nil when the set has no
// such source.
func (s *Set) Source(name string) *SourceOutcome {
	for i := range s.Sources {
		if s.Sources[i].Name == name {
			return &s.Sources[i]
		}
	}
	return nil
}
