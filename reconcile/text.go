package reconcile

import (
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// WriteText renders a report the way `nomad job plan` renders one job: a
// header per job that is not in sync, its diff, and a summary line.
func WriteText(w io.Writer, r *Report, color bool) {
	p := &printer{w: w, color: color}
	for _, s := range r.Sources {
		if s.Err != nil {
			p.line(0, "!", fmt.Sprintf("Source %q could not be read; its jobs are held: %v", s.Name, s.Err))
		}
	}
	for _, j := range r.Jobs {
		p.job(j)
	}
	for _, o := range r.Orphans {
		verb := "would be stopped with --prune"
		switch {
		case o.Pruned:
			verb = "stopped"
		case o.Err != nil:
			verb = "prune failed: " + o.Err.Error()
		case r.PruneBlocked != "":
			verb = "kept: " + r.PruneBlocked
		case o.Blocked != "":
			verb = "kept: " + o.Blocked
		}
		file := o.Path
		if o.Source != "" {
			file = o.Source + ":" + o.Path
		}
		p.line(0, "-", fmt.Sprintf("Job: %q (orphan: file %s gone from git; %s)", o.ID, file, verb))
	}
	c := r.Counts()
	fmt.Fprintf(w, "\nSummary: %d in sync, %d create, %d update, %d drift, %d prune, %d errors\n",
		c.InSync, c.Create, c.Update, c.Drift, c.Orphans-c.Pruned, c.Errors+c.Conflicts)
}

type printer struct {
	w     io.Writer
	color bool
}

func (p *printer) job(j *JobResult) {
	switch {
	case j.Err != nil && j.Class == Failed:
		p.line(0, "!", j.Err.Error())
		return
	case j.Class == InSync:
		return
	}
	mark := map[Class]string{Create: "+", Update: "+/-", Drift: "+/-"}[j.Class]
	head := fmt.Sprintf("Job: %q (%s, %s)", j.ID, j.Class, j.Path)
	if j.Namespace != "" && j.Namespace != "default" {
		head = fmt.Sprintf("Job: %q in %s (%s, %s)", j.ID, j.Namespace, j.Class, j.Path)
	}
	p.line(0, mark, head)
	if len(j.DependsOn) > 0 {
		deps := make([]string, len(j.DependsOn))
		for i, k := range j.DependsOn {
			deps[i] = k.String()
		}
		p.line(1, " ", "registered after: "+strings.Join(deps, ", "))
	}
	if j.Hold != "" {
		p.line(1, "!", "held, not applied: "+j.Hold)
	}
	if j.Diff != nil && j.Diff.Type != "Added" {
		p.fields(1, j.Diff.Fields)
		p.objects(1, j.Diff.Objects)
	}
	for _, name := range sortedKeys(j.Groups) {
		counts := j.Groups[name].String()
		tg := findGroup(j.Diff, name)
		gmark := " "
		if tg != nil && tg.Type != "None" {
			gmark = diffMark(tg.Type)
		}
		line := fmt.Sprintf("Task Group: %q", name)
		if counts != "" {
			line += " (" + counts + ")"
		}
		p.line(1, gmark, line)
		if tg == nil || tg.Type == "Added" {
			continue
		}
		p.fields(2, tg.Fields)
		p.objects(2, tg.Objects)
		for _, t := range tg.Tasks {
			if t == nil || t.Type == "None" {
				continue
			}
			line := fmt.Sprintf("Task: %q", t.Name)
			if len(t.Annotations) > 0 {
				line += " (" + strings.Join(t.Annotations, ", ") + ")"
			}
			p.line(2, diffMark(t.Type), line)
			if t.Type != "Added" && t.Type != "Deleted" {
				p.fields(3, t.Fields)
				p.objects(3, t.Objects)
			}
		}
	}
	for _, name := range sortedKeys(j.PlacementFailures) {
		p.line(1, "!", fmt.Sprintf("Task Group %q cannot be placed: %s", name, placementSummary(j.PlacementFailures[name])))
	}
	if j.Err != nil {
		p.line(1, "!", j.Err.Error())
	}
}

func (p *printer) fields(depth int, fs []*api.FieldDiff) {
	for _, f := range fs {
		if f == nil || f.Type == "None" || isOwnMetaField("", f.Name) {
			continue
		}
		var text string
		switch f.Type {
		case "Added":
			text = fmt.Sprintf("%s: %q", f.Name, f.New)
		case "Deleted":
			text = fmt.Sprintf("%s: %q", f.Name, f.Old)
		default:
			text = fmt.Sprintf("%s: %q => %q", f.Name, f.Old, f.New)
		}
		if len(f.Annotations) > 0 {
			text += " (" + strings.Join(f.Annotations, ", ") + ")"
		}
		p.line(depth, diffMark(f.Type), text)
	}
}

func (p *printer) objects(depth int, os []*api.ObjectDiff) {
	for _, o := range os {
		if o == nil || o.Type == "None" {
			continue
		}
		p.line(depth, diffMark(o.Type), o.Name+" {")
		p.fields(depth+1, o.Fields)
		p.objects(depth+1, o.Objects)
		p.line(depth, " ", "}")
	}
}

func (p *printer) line(depth int, mark, text string) {
	indent := strings.Repeat("  ", depth)
	out := fmt.Sprintf("%s%-3s %s", indent, mark, text)
	if p.color {
		if code := colorOf(mark); code != "" {
			out = code + out + "\x1b[0m"
		}
	}
	fmt.Fprintln(p.w, strings.TrimRight(out, " "))
}

func colorOf(mark string) string {
	switch mark {
	case "+":
		return "\x1b[32m"
	case "-", "!":
		return "\x1b[31m"
	case "+/-":
		return "\x1b[33m"
	}
	return ""
}

func diffMark(typ string) string {
	switch typ {
	case "Added":
		return "+"
	case "Deleted":
		return "-"
	case "Edited":
		return "+/-"
	}
	return " "
}

func findGroup(d *api.JobDiff, name string) *api.TaskGroupDiff {
	if d == nil {
		return nil
	}
	for _, tg := range d.TaskGroups {
		if tg != nil && tg.Name == name {
			return tg
		}
	}
	return nil
}

func placementSummary(m *api.AllocationMetric) string {
	if m == nil {
		return "no details"
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("%d nodes evaluated, %d filtered", m.NodesEvaluated, m.NodesFiltered))
	for _, k := range sortedKeys(m.ConstraintFiltered) {
		parts = append(parts, fmt.Sprintf("constraint %s filtered %d", k, m.ConstraintFiltered[k]))
	}
	for _, k := range sortedKeys(m.DimensionExhausted) {
		parts = append(parts, fmt.Sprintf("%s exhausted on %d", k, m.DimensionExhausted[k]))
	}
	return strings.Join(parts, "; ")
}
