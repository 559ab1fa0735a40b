package forge

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/drover-dev/drover/jobs"
	"github.com/drover-dev/drover/reconcile"
)

// commentLimit keeps a comment under GitHub's 65536-character cap, with
// room for the truncation note.
const commentLimit = 60000

// Marker is the hidden line that identifies instance's plan comment, so
// the next run edits it instead of adding another.
func Marker(instance string) string {
	return "<!-- drover-plan instance=" + instance + " -->"
}

// Plan is what a plan comment is about.
type Plan struct {
	Instance string
	// Commit is the commit planned, CommitURL its web page ("" for none).
	Commit, CommitURL string
}

// RenderPlan is the text of the plan comment: the marker, a summary line,
// and per job that is not in sync a collapsed block with its diff,
// placement failures and errors (parse errors with file and line).
func RenderPlan(r *reconcile.Report, p Plan) string {
	var b strings.Builder
	b.WriteString(Marker(p.Instance) + "\n")
	fmt.Fprintf(&b, "### drover plan · `%s`\n\n", p.Instance)
	b.WriteString(summary(r, p) + "\n")
	for _, j := range r.Jobs {
		if j.Class == reconcile.InSync && j.Err == nil {
			continue
		}
		block := jobBlock(j)
		if b.Len()+len(block) > commentLimit {
			b.WriteString("\n_The plan is too long for one comment; run `drover plan` for the rest._\n")
			return b.String()
		}
		b.WriteString(block)
	}
	if len(r.Orphans) > 0 {
		var text bytes.Buffer
		reconcile.WriteText(&text, &reconcile.Report{Orphans: r.Orphans, PruneBlocked: r.PruneBlocked}, false)
		fmt.Fprintf(&b, "\n<details><summary>%d job(s) whose file is gone from git</summary>\n\n```diff\n%s```\n\n</details>\n",
			len(r.Orphans), withoutSummary(text.String()))
	}
	return b.String()
}

func summary(r *reconcile.Report, p Plan) string {
	c := r.Counts()
	errs := c.Errors + c.Conflicts
	icon := "✅"
	switch {
	case errs > 0:
		icon = "❌"
	case r.Pending():
		icon = "📝"
	}
	commit := ""
	if p.Commit != "" {
		short := p.Commit
		if len(short) > 12 {
			short = short[:12]
		}
		commit = fmt.Sprintf(" at `%s`", short)
		if p.CommitURL != "" {
			commit = fmt.Sprintf(" at [`%s`](%s)", short, p.CommitURL)
		}
	}
	return fmt.Sprintf("%s **%d in sync, %d create, %d update, %d drift, %d prune, %d errors**%s",
		icon, c.InSync, c.Create, c.Update, c.Drift, c.Orphans-c.Pruned, errs, commit)
}

func jobBlock(j *reconcile.JobResult) string {
	var text bytes.Buffer
	reconcile.WriteText(&text, &reconcile.Report{Jobs: []*reconcile.JobResult{j}}, false)
	what, where := string(j.Class), j.Path
	if j.Err != nil {
		what = "error"
		var pe *jobs.ParseError
		if errors.As(j.Err, &pe) && pe.Line > 0 {
			what, where = "parse error", fmt.Sprintf("%s:%d", pe.Path, pe.Line)
		}
	}
	name := j.ID
	if name == "" {
		name = j.Path
	}
	if j.Namespace != "" && j.Namespace != "default" {
		name = j.Namespace + "/" + name
	}
	return fmt.Sprintf("\n<details><summary><b>%s</b>: %s (<code>%s</code>)</summary>\n\n```diff\n%s```\n\n</details>\n",
		htmlEscape(name), what, htmlEscape(where), withoutSummary(text.String()))
}

// withoutSummary drops WriteText's trailing summary line: the comment has
// its own.
func withoutSummary(s string) string {
	if i := strings.LastIndex(s, "\nSummary:"); i >= 0 {
		s = strings.TrimRight(s[:i], "\n") + "\n"
	}
	return strings.ReplaceAll(s, "```", "` ` `")
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
