package reconcile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// Changes flattens a plan diff into one line per changed field, cluster value
// first and git's second:
//
//	TaskGroups[web].Tasks[app].Config.image: "app:1.0.0" => "app:1.0.1"
//
// Changes to drover's own meta are left out: they alone never make a job
// out of sync.
func Changes(d *api.JobDiff) []string {
	if d == nil || d.Type == "None" || d.Type == "Added" {
		// A new job is all change; its class says so.
		return nil
	}
	var out []string
	walkFields("", d.Fields, d.Objects, &out)
	// A nil entry is skipped everywhere: Nomad sends none, but a malformed
	// answer must not crash the agent.
	for _, tg := range d.TaskGroups {
		if tg == nil || tg.Type == "None" {
			continue
		}
		prefix := fmt.Sprintf("TaskGroups[%s]", tg.Name)
		if (tg.Type == "Added" || tg.Type == "Deleted") && len(tg.Fields)+len(tg.Objects)+len(tg.Tasks) == 0 {
			out = append(out, change(prefix, tg.Type, "", ""))
		}
		walkFields(prefix, tg.Fields, tg.Objects, &out)
		for _, t := range tg.Tasks {
			if t == nil || t.Type == "None" {
				continue
			}
			walkFields(fmt.Sprintf("%s.Tasks[%s]", prefix, t.Name), t.Fields, t.Objects, &out)
		}
	}
	return out
}

func walkFields(prefix string, fields []*api.FieldDiff, objects []*api.ObjectDiff, out *[]string) {
	for _, f := range fields {
		if f == nil || f.Type == "None" || isOwnMetaField(prefix, f.Name) {
			continue
		}
		*out = append(*out, change(join(prefix, f.Name), f.Type, f.Old, f.New))
	}
	for _, o := range objects {
		if o == nil || o.Type == "None" {
			continue
		}
		p := join(prefix, o.Name)
		if prefix == "" && o.Name == "Meta" {
			// Some versions diff meta as an object of fields.
			var kept []*api.FieldDiff
			for _, f := range o.Fields {
				if f != nil && !jobs.IsOwnMeta(f.Name) {
					kept = append(kept, f)
				}
			}
			walkFields(p, kept, o.Objects, out)
			continue
		}
		walkFields(p, o.Fields, o.Objects, out)
	}
}

// isOwnMetaField matches the job-level fields "Meta[drover.…]".
func isOwnMetaField(prefix, name string) bool {
	key, ok := strings.CutPrefix(name, "Meta[")
	return ok && prefix == "" && jobs.IsOwnMeta(strings.TrimSuffix(key, "]"))
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func change(path, typ, old, new string) string {
	switch typ {
	case "Added":
		if old == "" && new == "" {
			return path + ": added"
		}
	case "Deleted":
		if old == "" && new == "" {
			return path + ": removed"
		}
	}
	return fmt.Sprintf("%s: %q => %q", path, old, new)
}

func groupCounts(a *api.PlanAnnotations) map[string]GroupCounts {
	if a == nil || len(a.DesiredTGUpdates) == 0 {
		return nil
	}
	out := make(map[string]GroupCounts, len(a.DesiredTGUpdates))
	for name, u := range a.DesiredTGUpdates {
		out[name] = GroupCounts{
			Place:       u.Place,
			Stop:        u.Stop,
			InPlace:     u.InPlaceUpdate,
			Destructive: u.DestructiveUpdate,
			Canary:      u.Canary,
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// outline is what a report keeps of a plan's diff. A new job's diff lists
// every field of its spec, and nothing reads those (Changes and the text
// both show a new job by its groups), so only the job's and its groups'
// names and types are kept: a thousand new jobs otherwise hold megabytes
// of diff in the cycle's report.
func outline(d *api.JobDiff) *api.JobDiff {
	if d == nil || d.Type != "Added" {
		return d
	}
	o := &api.JobDiff{Type: d.Type, ID: d.ID}
	for _, tg := range d.TaskGroups {
		if tg != nil {
			o.TaskGroups = append(o.TaskGroups, &api.TaskGroupDiff{Type: tg.Type, Name: tg.Name, Updates: tg.Updates})
		}
	}
	return o
}
