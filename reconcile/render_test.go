package reconcile

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// FuzzChanges renders any plan diff (decoded from JSON, as it arrives from
// Nomad) and checks the renderer's invariants: one line per changed field
// or wholly added/removed group, drover's own job meta never shown, lines
// that stay single lines unless a name itself has a newline, the diff left
// untouched, and the text report rendering it too.
func FuzzChanges(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var d api.JobDiff
		if json.Unmarshal(data, &d) != nil {
			return
		}
		before, _ := json.Marshal(&d)
		out := Changes(&d)
		after, _ := json.Marshal(&d)
		if !bytes.Equal(before, after) {
			t.Fatal("Changes modified the diff")
		}
		if again := Changes(&d); !slices.Equal(out, again) {
			t.Fatalf("Changes is not deterministic:\n%q\n%q", out, again)
		}
		if want := countChanges(&d); len(out) != want {
			t.Fatalf("%d lines, want one per change (%d):\n%q", len(out), want, out)
		}
		multiline := namesHaveNewline(&d)
		for _, line := range out {
			if !strings.Contains(line, ": ") {
				t.Fatalf("line %q has no \": \" between path and change", line)
			}
			if key, ok := strings.CutPrefix(line, "Meta["); ok && jobs.IsOwnMeta(key[:max(0, strings.Index(key, "]"))]) {
				t.Fatalf("drover's own meta shown: %q", line)
			}
			if !multiline && strings.ContainsAny(line, "\r\n") {
				t.Fatalf("line %q spans lines though no name does", line)
			}
		}

		groups := map[string]GroupCounts{}
		for _, tg := range d.TaskGroups {
			if tg != nil {
				groups[tg.Name] = GroupCounts{Place: 1}
			}
		}
		r := &Report{Jobs: []*JobResult{{
			Key: jobs.Key{Namespace: "default", ID: "web"}, Path: "web.nomad",
			Class: Update, Changes: out, Diff: &d, Groups: groups,
		}}}
		var text bytes.Buffer
		WriteText(&text, r, true)
		if !strings.Contains(text.String(), "\nSummary: ") {
			t.Fatalf("text report without its summary:\n%s", text.String())
		}
	})
}

// countChanges counts the lines Changes owes d, walking it independently.
func countChanges(d *api.JobDiff) int {
	if d.Type == "None" || d.Type == "Added" {
		return 0
	}
	n := 0
	for _, fd := range d.Fields {
		if fd != nil && fd.Type != "None" && !isOwnMetaField("", fd.Name) {
			n++
		}
	}
	for _, o := range d.Objects {
		if o == nil || o.Type == "None" {
			continue
		}
		if o.Name == "Meta" {
			for _, fd := range o.Fields {
				if fd != nil && fd.Type != "None" && !jobs.IsOwnMeta(fd.Name) {
					n++
				}
			}
			n += countObjects(o.Objects)
			continue
		}
		n += countObjects([]*api.ObjectDiff{o})
	}
	for _, tg := range d.TaskGroups {
		if tg == nil || tg.Type == "None" {
			continue
		}
		if (tg.Type == "Added" || tg.Type == "Deleted") && len(tg.Fields)+len(tg.Objects)+len(tg.Tasks) == 0 {
			n++
		}
		n += countFields(tg.Fields) + countObjects(tg.Objects)
		for _, task := range tg.Tasks {
			if task != nil && task.Type != "None" {
				n += countFields(task.Fields) + countObjects(task.Objects)
			}
		}
	}
	return n
}

func countFields(fs []*api.FieldDiff) int {
	n := 0
	for _, fd := range fs {
		if fd != nil && fd.Type != "None" {
			n++
		}
	}
	return n
}

func countObjects(os []*api.ObjectDiff) int {
	n := 0
	for _, o := range os {
		if o != nil && o.Type != "None" {
			n += countFields(o.Fields) + countObjects(o.Objects)
		}
	}
	return n
}

// namesHaveNewline reports whether any name in d, which Changes prints
// unquoted, holds a line break.
func namesHaveNewline(d *api.JobDiff) bool {
	found := false
	check := func(s string) { found = found || strings.ContainsAny(s, "\r\n") }
	var objects func([]*api.ObjectDiff)
	fields := func(fs []*api.FieldDiff) {
		for _, fd := range fs {
			if fd != nil {
				check(fd.Name)
			}
		}
	}
	objects = func(os []*api.ObjectDiff) {
		for _, o := range os {
			if o == nil {
				continue
			}
			check(o.Name)
			fields(o.Fields)
			objects(o.Objects)
		}
	}
	fields(d.Fields)
	objects(d.Objects)
	for _, tg := range d.TaskGroups {
		if tg == nil {
			continue
		}
		check(tg.Name)
		fields(tg.Fields)
		objects(tg.Objects)
		for _, task := range tg.Tasks {
			if task == nil {
				continue
			}
			check(task.Name)
			fields(task.Fields)
			objects(task.Objects)
		}
	}
	return found
}
