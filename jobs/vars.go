package jobs

import (
	"errors"
	"fmt"
	"github.com/drover-dev/drover/failure"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Variables are the HCL2 input variables every job file is parsed with, as
// `nomad job run -var-file … -var k=v` would pass them.
type Variables struct {
	// Files are repo-relative var files, read from the same commit as the
	// jobs. A later file overrides an earlier one.
	Files []string
	// Flags override every file. Values are strings, converted by Nomad to
	// the variable's declared type; use a var file for lists and maps.
	Flags map[string]string
}

// resolved is the variables of one revision, ready for the parse API.
type resolved struct {
	// text is a var-file body with every definition, flags last.
	text string
	// files is the var files' own content, for the job's submission.
	files string
}

// resolve reads the var files from tree, each at most limit bytes, and
// merges them with the flags. Nomad's parse API takes one var-file body, so
// later definitions replace earlier ones here rather than being rejected as
// duplicates.
func (v Variables) resolve(tree Tree, limit int64) (resolved, error) {
	type def struct {
		name string
		expr string
	}
	var defs []def
	index := map[string]int{}
	set := func(name, expr string) {
		if i, ok := index[name]; ok {
			defs[i].expr = expr
			return
		}
		index[name] = len(defs)
		defs = append(defs, def{name, expr})
	}

	var files strings.Builder
	for _, p := range v.Files {
		src, err := readLimited(tree, p, "var file", limit)
		var tooLarge *FileTooLargeError
		switch {
		case errors.As(err, &tooLarge):
			// Every job reads the variables: the load cannot go on
			// without them, and only a new commit makes the file smaller.
			return resolved{}, &failure.Stall{What: "var file too large", Fix: "shrink it in a new commit", Err: err}
		case err != nil:
			return resolved{}, fmt.Errorf("var file %s: %w", p, err)
		}
		f, diags := hclsyntax.ParseConfig(src, p, hcl.InitialPos)
		if diags.HasErrors() {
			return resolved{}, fmt.Errorf("var file %w", diags)
		}
		attrs, diags := f.Body.JustAttributes()
		if diags.HasErrors() {
			return resolved{}, fmt.Errorf("var file %w", diags)
		}
		// Keep the file's order so the merged text reads like the source.
		sorted := make([]*hcl.Attribute, 0, len(attrs))
		for _, a := range attrs {
			sorted = append(sorted, a)
		}
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Range.Start.Byte < sorted[j].Range.Start.Byte })
		for _, a := range sorted {
			set(a.Name, string(a.Expr.Range().SliceBytes(src)))
		}
		files.Write(src)
		files.WriteString("\n")
	}

	names := make([]string, 0, len(v.Flags))
	for k := range v.Flags {
		if !hclsyntax.ValidIdentifier(k) {
			return resolved{}, fmt.Errorf("variable %q: not a valid HCL identifier", k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		set(k, hclString(v.Flags[k]))
	}

	var text strings.Builder
	for _, d := range defs {
		fmt.Fprintf(&text, "%s = %s\n", d.name, d.expr)
	}
	return resolved{text: text.String(), files: files.String()}, nil
}

// hclString quotes s as an HCL string literal with no interpolation.
func hclString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+1:], "{"):
			// A doubled sigil is HCL's escape for a literal "${" or "%{".
			b.WriteRune(r)
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
