package jobs

import (
	"fmt"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// MetaIgnore, set in a job file, lists fields of the job other tools own:
// drover neither reports a difference in them nor overwrites them. Like
// MetaHealthFailAfter it is the user's, part of the spec.
const MetaIgnore = "drover.ignore"

// IgnoreKind is which part of a job an IgnorePath names.
type IgnoreKind string

const (
	IgnoreJobMeta    IgnoreKind = "meta"
	IgnoreCount      IgnoreKind = "count"
	IgnoreGroupMeta  IgnoreKind = "group_meta"
	IgnoreTaskConfig IgnoreKind = "config"
	IgnoreTaskEnv    IgnoreKind = "env"
	IgnoreTaskMeta   IgnoreKind = "task_meta"
)

// IgnorePath is one entry of MetaIgnore:
//
//	meta.<key>
//	group.<g>.count
//	group.<g>.meta.<key>
//	group.<g>.task.<t>.config.<key>
//	group.<g>.task.<t>.env.<key>
//	group.<g>.task.<t>.meta.<key>
//
// <g> and <t> are names or "*" for any; they cannot contain a dot. <key>
// is everything after its prefix, dots included (meta keys often have
// them); a config key also covers what is nested under it.
type IgnorePath struct {
	Kind  IgnoreKind
	Group string
	Task  string
	Key   string
}

// IgnoreSyntax lists the forms an IgnorePath can take, for error messages.
const IgnoreSyntax = "meta.<key>, group.<g>.count, group.<g>.meta.<key>, group.<g>.task.<t>.config.<key>, group.<g>.task.<t>.env.<key> or group.<g>.task.<t>.meta.<key> (<g>, <t> may be *)"

// ParseIgnore parses MetaIgnore's value: paths separated by commas, spaces
// around them allowed. An empty value ignores nothing.
func ParseIgnore(value string) ([]IgnorePath, error) {
	var out []IgnorePath
	for _, raw := range strings.Split(value, ",") {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		p, ok := parseIgnorePath(s)
		if !ok {
			return nil, fmt.Errorf("unknown field path %q: want %s", s, IgnoreSyntax)
		}
		if p.Kind == IgnoreJobMeta && IsOwnMeta(p.Key) {
			return nil, fmt.Errorf("%q is drover's own meta and cannot be ignored", s)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseIgnorePath(s string) (IgnorePath, bool) {
	if key, ok := strings.CutPrefix(s, "meta."); ok {
		return IgnorePath{Kind: IgnoreJobMeta, Key: key}, key != ""
	}
	rest, ok := strings.CutPrefix(s, "group.")
	if !ok {
		return IgnorePath{}, false
	}
	group, rest, ok := strings.Cut(rest, ".")
	if !ok || group == "" {
		return IgnorePath{}, false
	}
	if rest == "count" {
		return IgnorePath{Kind: IgnoreCount, Group: group}, true
	}
	if key, ok := strings.CutPrefix(rest, "meta."); ok {
		return IgnorePath{Kind: IgnoreGroupMeta, Group: group, Key: key}, key != ""
	}
	rest, ok = strings.CutPrefix(rest, "task.")
	if !ok {
		return IgnorePath{}, false
	}
	task, rest, ok := strings.Cut(rest, ".")
	if !ok || task == "" {
		return IgnorePath{}, false
	}
	for prefix, kind := range map[string]IgnoreKind{"config.": IgnoreTaskConfig, "env.": IgnoreTaskEnv, "meta.": IgnoreTaskMeta} {
		if key, ok := strings.CutPrefix(rest, prefix); ok {
			return IgnorePath{Kind: kind, Group: group, Task: task, Key: key}, key != ""
		}
	}
	return IgnorePath{}, false
}

// String is the path as written in MetaIgnore.
func (p IgnorePath) String() string {
	switch p.Kind {
	case IgnoreJobMeta:
		return "meta." + p.Key
	case IgnoreCount:
		return "group." + p.Group + ".count"
	case IgnoreGroupMeta:
		return "group." + p.Group + ".meta." + p.Key
	}
	return fmt.Sprintf("group.%s.task.%s.%s.%s", p.Group, p.Task, taskPart(p.Kind), p.Key)
}

func taskPart(k IgnoreKind) string {
	if k == IgnoreTaskMeta {
		return "meta"
	}
	return string(k)
}

// InGroup reports whether p can match something in the named group.
func (p IgnorePath) InGroup(group string) bool {
	return p.Kind != IgnoreJobMeta && nameMatches(p.Group, group)
}

// InTask reports whether p can match something in the named task of the
// named group.
func (p IgnorePath) InTask(group, task string) bool {
	return p.Task != "" && nameMatches(p.Group, group) && nameMatches(p.Task, task)
}

func nameMatches(pattern, name string) bool {
	return pattern == "*" || pattern == name
}

// Scales reports whether a task group's count belongs to an autoscaler: it
// has a horizontal scaling block that is not disabled (Nomad treats an
// unset enabled as true). Task-level (vertical) policies are not counts.
func Scales(tg *api.TaskGroup) bool {
	s := tg.Scaling
	if s == nil || (s.Enabled != nil && !*s.Enabled) {
		return false
	}
	return s.Type == "" || s.Type == api.ScalingPolicyTypeHorizontal
}
