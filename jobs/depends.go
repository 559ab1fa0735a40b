package jobs

import (
	"fmt"
	"strings"
)

// MetaDependsOn, set in a job file, names the jobs that must be in sync
// and healthy before this one is registered: comma-separated, each `name`
// (in the job's own namespace) or `namespace/name`. Like
// MetaHealthFailAfter it is the user's meta and part of the spec.
const MetaDependsOn = "drover.depends_on"

// DependsOn returns the jobs f's meta says it depends on, in the order
// written, without repeats; nil when it names none. An entry that is not a
// job reference is an error naming the file and the meta key. Only valid
// when f.Err is nil.
func (f *File) DependsOn() ([]Key, error) {
	raw, ok := f.Job.Meta[MetaDependsOn]
	if !ok {
		return nil, nil
	}
	own := f.Key()
	var out []Key
	seen := map[Key]bool{}
	for _, ref := range strings.Split(raw, ",") {
		ref = strings.TrimSpace(ref)
		if ref == "" {
			continue
		}
		k, err := parseRef(ref, own.Namespace)
		if err != nil {
			return nil, fmt.Errorf("%s: meta %s: %w", f.Path, MetaDependsOn, err)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// parseRef reads `name` or `namespace/name`.
func parseRef(ref, namespace string) (Key, error) {
	ns, id, qualified := strings.Cut(ref, "/")
	if !qualified {
		ns, id = namespace, ref
	}
	ns, id = strings.TrimSpace(ns), strings.TrimSpace(id)
	switch {
	case ns == "" || id == "":
		return Key{}, fmt.Errorf("%q is not a job: want name or namespace/name", ref)
	case strings.Contains(id, "/"):
		return Key{}, fmt.Errorf("%q is not a job: a job ID has no slash; want name or namespace/name", ref)
	case strings.ContainsAny(ref, " \t\n"):
		return Key{}, fmt.Errorf("%q is not a job: job references are separated by commas", ref)
	}
	return Key{Namespace: ns, ID: id}, nil
}
