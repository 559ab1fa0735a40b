package reconcile

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// Fields other tools own. A group with an enabled scaling block has its
// count owned by the autoscaler, and drover.ignore hands named fields to
// whoever sets them. The engine still plans git's spec as it is (no extra
// read per job) and then drops those fields from the plan's diff: a job
// whose only differences are there is in sync. When a register is due for
// another change, those fields keep the cluster's value (see
// keepOwned in keep.go), as Argo CD's RespectIgnoreDifferences does.

// foreign is what of one job belongs to other tools.
type foreign struct {
	// counts are the groups whose count is not drover's.
	counts map[string]bool
	// fields are the drover.ignore paths other than counts.
	fields []jobs.IgnorePath
}

// foreignOf reads what of f's job belongs to other tools. With resetCounts,
// every count is git's again.
func foreignOf(f *jobs.File, resetCounts bool) foreign {
	var o foreign
	for _, p := range f.Ignore {
		if p.Kind != jobs.IgnoreCount {
			o.fields = append(o.fields, p)
		}
	}
	if resetCounts {
		return o
	}
	for _, tg := range f.Job.TaskGroups {
		if tg == nil || tg.Name == nil {
			continue
		}
		take := jobs.Scales(tg)
		for _, p := range f.Ignore {
			take = take || (p.Kind == jobs.IgnoreCount && p.InGroup(*tg.Name))
		}
		if take {
			if o.counts == nil {
				o.counts = map[string]bool{}
			}
			o.counts[*tg.Name] = true
		}
	}
	return o
}

func (o foreign) none() bool { return len(o.counts) == 0 && len(o.fields) == 0 }

// countEdit is a count difference the plan found in a group whose count is
// not drover's.
type countEdit struct {
	Group   string
	Git     int
	Cluster int
}

// filtered is a plan diff without the differences in fields drover does
// not own.
type filtered struct {
	diff *api.JobDiff
	// counts are the count differences dropped.
	counts []countEdit
	// fields are the other dropped differences, as Changes names them
	// (paths only: a value may be a secret).
	fields []string
	// countChanged is set when a group whose count drover does own
	// changes count: a register must not preserve every count then.
	countChanged bool
}

// filterDiff drops from d the differences in fields o gives away. d is not
// modified: the plan memo and reports may hold it.
func filterDiff(d *api.JobDiff, o foreign) filtered {
	out := filtered{diff: d}
	if d == nil || d.Type != "Edited" || o.none() {
		// A count change is still told apart: it decides whether a
		// register may preserve counts.
		out.countChanged = o.none() && countChanged(d)
		return out
	}
	c := *d
	c.Fields = out.dropFields("", d.Fields, func(name string) bool { return metaKeyIn(name, o.fields, jobs.IgnoreJobMeta, "", "") })
	c.Objects = out.dropObjects("", d.Objects, func(obj, name string) bool {
		return obj == "Meta" && matchesAny(o.fields, jobs.IgnoreJobMeta, "", "", name)
	})
	c.TaskGroups = nil
	for _, tg := range d.TaskGroups {
		if tg == nil {
			continue
		}
		c.TaskGroups = append(c.TaskGroups, out.filterGroup(tg, o))
	}
	if !anyChange(c.Fields, c.Objects) && !anyGroupChange(c.TaskGroups) {
		c.Type = "None"
	}
	out.diff = &c
	return out
}

func (out *filtered) filterGroup(tg *api.TaskGroupDiff, o foreign) *api.TaskGroupDiff {
	if tg.Type != "Edited" {
		return tg
	}
	g := *tg
	prefix := fmt.Sprintf("TaskGroups[%s]", tg.Name)
	g.Fields = nil
	for _, f := range tg.Fields {
		if f != nil && f.Name == "Count" && f.Type == "Edited" {
			if o.counts[tg.Name] {
				out.counts = append(out.counts, countEdit{Group: tg.Name, Git: atoi(f.New), Cluster: atoi(f.Old)})
				continue
			}
			out.countChanged = true
		}
		g.Fields = append(g.Fields, f)
	}
	g.Fields = out.dropFields(prefix, g.Fields, func(name string) bool {
		return metaKeyIn(name, o.fields, jobs.IgnoreGroupMeta, tg.Name, "")
	})
	g.Objects = out.dropObjects(prefix, tg.Objects, func(obj, name string) bool {
		return obj == "Meta" && matchesAny(o.fields, jobs.IgnoreGroupMeta, tg.Name, "", name)
	})
	g.Tasks = nil
	for _, t := range tg.Tasks {
		if t == nil || t.Type != "Edited" {
			g.Tasks = append(g.Tasks, t)
			continue
		}
		tc := *t
		tp := fmt.Sprintf("%s.Tasks[%s]", prefix, t.Name)
		tc.Fields = out.dropFields(tp, t.Fields, func(name string) bool {
			return metaKeyIn(name, o.fields, jobs.IgnoreTaskMeta, tg.Name, t.Name) ||
				mapKeyIn(name, "Env", o.fields, jobs.IgnoreTaskEnv, tg.Name, t.Name)
		})
		tc.Objects = out.dropObjects(tp, t.Objects, func(obj, name string) bool {
			switch obj {
			case "Config":
				return configKeyIn(name, o.fields, tg.Name, t.Name)
			case "Meta":
				return matchesAny(o.fields, jobs.IgnoreTaskMeta, tg.Name, t.Name, name)
			case "Env":
				return matchesAny(o.fields, jobs.IgnoreTaskEnv, tg.Name, t.Name, name)
			}
			return false
		})
		if !anyChange(tc.Fields, tc.Objects) {
			tc.Type = "None"
		}
		g.Tasks = append(g.Tasks, &tc)
	}
	if !anyChange(g.Fields, g.Objects) && !anyTaskChange(g.Tasks) {
		g.Type = "None"
	}
	return &g
}

// dropFields returns fields without those drop matches, recording them.
func (out *filtered) dropFields(prefix string, fields []*api.FieldDiff, drop func(name string) bool) []*api.FieldDiff {
	var kept []*api.FieldDiff
	for _, f := range fields {
		if f != nil && f.Type != "None" && drop(f.Name) {
			out.fields = append(out.fields, join(prefix, f.Name))
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

// dropObjects drops the fields of top-level objects (Meta, Config) that
// drop matches, and an object left with no change.
func (out *filtered) dropObjects(prefix string, objects []*api.ObjectDiff, drop func(obj, name string) bool) []*api.ObjectDiff {
	var kept []*api.ObjectDiff
	for _, o := range objects {
		if o == nil || o.Type == "None" {
			kept = append(kept, o)
			continue
		}
		c := *o
		c.Fields = out.dropFields(join(prefix, o.Name), o.Fields, func(name string) bool { return drop(o.Name, name) })
		if len(c.Fields) == len(o.Fields) {
			kept = append(kept, o)
			continue
		}
		if anyChange(c.Fields, c.Objects) {
			kept = append(kept, &c)
		}
	}
	return kept
}

// metaKeyIn matches a field "Meta[key]" against the meta paths of kind.
func metaKeyIn(name string, paths []jobs.IgnorePath, kind jobs.IgnoreKind, group, task string) bool {
	return mapKeyIn(name, "Meta", paths, kind, group, task)
}

// mapKeyIn matches a field "<field>[key]", as Nomad's diff flattens a map,
// against the paths of kind.
func mapKeyIn(name, field string, paths []jobs.IgnorePath, kind jobs.IgnoreKind, group, task string) bool {
	key, ok := strings.CutPrefix(name, field+"[")
	if !ok || !strings.HasSuffix(key, "]") {
		return false
	}
	return matchesAny(paths, kind, group, task, strings.TrimSuffix(key, "]"))
}

// configKeyIn matches a field of a task's Config object: Nomad flattens
// config to "image", "args[0]", "labels[0][team]"…, so a key covers the
// fields nested under it.
func configKeyIn(name string, paths []jobs.IgnorePath, group, task string) bool {
	for _, p := range paths {
		if p.Kind == jobs.IgnoreTaskConfig && p.InTask(group, task) &&
			(name == p.Key || strings.HasPrefix(name, p.Key+"[") || strings.HasPrefix(name, p.Key+".")) {
			return true
		}
	}
	return false
}

func matchesAny(paths []jobs.IgnorePath, kind jobs.IgnoreKind, group, task, key string) bool {
	for _, p := range paths {
		if p.Kind != kind || p.Key != key {
			continue
		}
		switch {
		case kind == jobs.IgnoreJobMeta:
			return true
		case task == "" && p.InGroup(group):
			return true
		case task != "" && p.InTask(group, task):
			return true
		}
	}
	return false
}

// countChanged reports whether d changes any group's count.
func countChanged(d *api.JobDiff) bool {
	if d == nil || d.Type != "Edited" {
		return false
	}
	for _, tg := range d.TaskGroups {
		if tg == nil {
			continue
		}
		for _, f := range tg.Fields {
			if f != nil && f.Name == "Count" && f.Type == "Edited" {
				return true
			}
		}
	}
	return false
}

func anyChange(fields []*api.FieldDiff, objects []*api.ObjectDiff) bool {
	for _, f := range fields {
		if f != nil && f.Type != "None" {
			return true
		}
	}
	for _, o := range objects {
		if o != nil && o.Type != "None" {
			return true
		}
	}
	return false
}

func anyGroupChange(groups []*api.TaskGroupDiff) bool {
	for _, g := range groups {
		if g != nil && g.Type != "None" {
			return true
		}
	}
	return false
}

func anyTaskChange(tasks []*api.TaskDiff) bool {
	for _, t := range tasks {
		if t != nil && t.Type != "None" {
			return true
		}
	}
	return false
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// withoutForeign takes out of the plan's allocation counts what only the
// dropped differences would do. The plan registers git's spec as it is:
// a count difference places or stops that many allocations, and any change
// to the spec (a count included) updates every allocation in place or
// destructively. When nothing else differs, git's spec is not registered,
// so none of that happens; left in, it would also keep an in-sync job from
// being remembered by the plan memo, and re-plan it every cycle. When
// something else differs, the updates are the register's, and stay.
func withoutForeign(groups map[string]GroupCounts, filt filtered, changes []string) map[string]GroupCounts {
	if len(groups) == 0 || (len(filt.counts) == 0 && len(filt.fields) == 0) {
		return groups
	}
	out := make(map[string]GroupCounts, len(groups))
	for k, v := range groups {
		out[k] = v
	}
	for _, e := range filt.counts {
		c, ok := out[e.Group]
		if !ok {
			continue
		}
		if d := e.Git - e.Cluster; d > 0 {
			c.Place -= min(c.Place, uint64(d))
		} else {
			c.Stop -= min(c.Stop, uint64(-d))
		}
		out[e.Group] = c
	}
	if len(changes) == 0 {
		for k, c := range out {
			c.InPlace, c.Destructive, c.Canary = 0, 0, 0
			out[k] = c
		}
	}
	return out
}

// emitIgnored reports at debug the differences left to other tools.
func (e *Engine) emitIgnored(subject events.Subject, filt filtered) {
	for _, c := range filt.counts {
		e.opts.Emitter.Emit(events.JobCountIgnored{Subject: subject, Group: c.Group, GitCount: c.Git, ClusterCount: c.Cluster},
			"count differs from git in a group whose count the autoscaler (or drover.ignore) owns; left alone")
	}
	if len(filt.fields) > 0 {
		e.opts.Emitter.Emit(events.JobIgnoredDiff{Subject: subject, Fields: filt.fields},
			"fields listed in drover.ignore differ from git; left alone")
	}
}
