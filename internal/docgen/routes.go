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
)

// routePackages hold every http.ServeMux registration of the agent's
// listener: the API and the web page.
var routePackages = []string{"agent", "ui"}

type route struct {
	method, path, doc, pkg string
}

// renderRoutes lists every pattern the agent's listener registers,
// found in the source (mux.Handle / mux.HandleFunc with a literal
// pattern), each described by the table in the doc comment of the
// function that registers it, or by the doc comment of its handler.
func renderRoutes(in Inputs) ([]byte, error) {
	var routes []route
	for _, dir := range routePackages {
		rs, err := routesIn(filepath.Join(in.Root, dir))
		if err != nil {
			return nil, err
		}
		for i := range rs {
			rs[i].pkg = dir
		}
		routes = append(routes, rs...)
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("no routes found under %v", routePackages)
	}
	// Every documented line, from every registering function, describes
	// a route wherever it is registered (the agent's table names the
	// page's root route too).
	docs := map[string]string{}
	for _, r := range routes {
		for k, v := range commentTable(r.doc) {
			if _, ok := docs[k]; !ok {
				docs[k] = v
			}
		}
	}
	sort.SliceStable(routes, func(i, j int) bool { return displayPath(routes[i].path) < displayPath(routes[j].path) })
	b := newPage("HTTP API",
		"Every route `drover agent` serves on `--listen`, read from the `http.ServeMux` registrations in `agent/` and `ui/`. "+
			"The `GET` routes are open: they change nothing and show no secret, but they do show the repository, job names and commits; "+
			"the `POST` routes of the API need `Authorization: Bearer <--api-token>` when it is set, and the webhooks their `--webhook-secret`.")
	b.WriteString("\n| method | path | what it does | registered in |\n|---|---|---|---|\n")
	for _, r := range routes {
		key := r.method + " " + displayPath(r.path)
		doc := docs[key]
		if doc == "" {
			doc = inherited(docs, r.method, displayPath(r.path))
		}
		fmt.Fprintf(b, "| `%s` | `%s` | %s | `%s/` |\n", r.method, displayPath(r.path), cell(doc), r.pkg)
	}
	return b.Bytes(), nil
}

// routesIn parses a package's non-test files for registrations.
func routesIn(dir string) ([]route, error) {
	decls, err := packageDecls[*ast.FuncDecl](dir)
	if err != nil {
		return nil, err
	}
	var out []route
	for _, fn := range decls {
		if fn.Body == nil {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			pattern, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			method, path, ok := strings.Cut(pattern, " ")
			if !ok {
				method, path = "ANY", pattern
			}
			out = append(out, route{method: method, path: path, doc: fn.Doc.Text()})
			return true
		})
	}
	return out, nil
}

var wildcard = regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`)

// displayPath writes a ServeMux pattern as people read it: /{$} is /,
// {name...} is <name>.
func displayPath(p string) string {
	p = strings.ReplaceAll(p, "{$}", "")
	return wildcard.ReplaceAllString(p, "<$1>")
}

var tableLine = regexp.MustCompile(`^(GET|POST|PUT|DELETE|HEAD)\s+(/\S*)\s+(.*)$`)

// commentTable reads the indented "METHOD /path  what it does" lines of a
// doc comment, joining a line's continuation (more indented, no method).
func commentTable(doc string) map[string]string {
	out := map[string]string{}
	last := ""
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "\t") {
			last = ""
			continue
		}
		t := strings.TrimSpace(line)
		if m := tableLine.FindStringSubmatch(t); m != nil {
			last = m[1] + " " + m[2]
			out[last] = m[3]
			continue
		}
		if last != "" && t != "" {
			out[last] += " " + t
		}
	}
	return out
}

// inherited is the description of the longest documented route of the
// same method whose path, ending in "/", is a prefix of path (the
// profiles under /debug/pprof/).
func inherited(docs map[string]string, method, path string) string {
	best, doc := "", ""
	for k, v := range docs {
		m, p, _ := strings.Cut(k, " ")
		if m == method && p != "/" && strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) && len(p) > len(best) {
			best, doc = p, v
		}
	}
	return doc
}
