package docgen

import (
	"fmt"
	"go/ast"
	"go/token"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/drover-dev/drover/jobs"
)

type metaKey struct {
	key, doc string
}

// renderMeta lists the job meta keys: the constants named Meta… in the
// jobs package, with their doc comments. Who writes a key is the code's
// own answer, jobs.IsOwnMeta.
func renderMeta(in Inputs) ([]byte, error) {
	keys, err := metaKeys(filepath.Join(in.Root, "jobs"))
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no Meta… constants found in jobs/")
	}
	b := newPage("Job meta",
		"The `drover.*` meta keys, read from the `Meta…` constants of the `jobs` package. "+
			"drover writes its own keys at every register; a job file does not set them, and a difference in them is never drift. "+
			"The keys you set are part of the job's spec: changing one is a change to the job, registered like any other. "+
			"Write them as `meta = { \"drover.x\" = \"…\" }`: HCL does not accept a quoted name inside a `meta { }` block.")
	for _, own := range []bool{false, true} {
		if own {
			b.WriteString("\n## Written by drover\n\n| key | meaning |\n|---|---|\n")
		} else {
			b.WriteString("\n## Set by you, in a job file\n\n| key | meaning |\n|---|---|\n")
		}
		for _, k := range keys {
			if jobs.IsOwnMeta(k.key) == own {
				fmt.Fprintf(b, "| `%s` | %s |\n", k.key, cell(k.doc))
			}
		}
	}
	return b.Bytes(), nil
}

// metaKeys parses the package's non-test files for string constants
// named Meta… whose value starts with "drover.".
func metaKeys(dir string) ([]metaKey, error) {
	decls, err := packageDecls[*ast.GenDecl](dir)
	if err != nil {
		return nil, err
	}
	var out []metaKey
	names := map[string]string{} // constant name → key
	for _, gd := range decls {
		if gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "Meta") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				key, err := strconv.Unquote(lit.Value)
				if err != nil || !strings.HasPrefix(key, "drover.") {
					continue
				}
				doc := vs.Doc.Text()
				if doc == "" {
					doc = gd.Doc.Text()
				}
				out = append(out, metaKey{key: key, doc: strings.TrimSpace(doc)})
				names[id.Name] = key
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	// A comment speaks of the constants by their Go names; the page by
	// the keys. The comment's own subject is dropped ("MetaIgnore, set in
	// a job file, lists…" reads "Set in a job file, lists…").
	for i := range out {
		for id, key := range names {
			if key == out[i].key {
				if rest, ok := strings.CutPrefix(out[i].doc, id); ok {
					rest = strings.TrimLeft(rest, ", ")
					rest = strings.TrimPrefix(rest, "is ")
					if rest != "" {
						rest = strings.ToUpper(rest[:1]) + rest[1:]
					}
					out[i].doc = rest
				}
			}
		}
		for id, key := range names {
			out[i].doc = regexp.MustCompile(`\b`+id+`\b`).ReplaceAllString(out[i].doc, "`"+key+"`")
		}
	}
	return out, nil
}
