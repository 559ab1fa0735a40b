package events

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestRegistry_NamesAreUniqueAndEveryFieldIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, typ := range Registry() {
		if seen[typ.Name] {
			t.Errorf("%s registered twice", typ.Name)
		}
		seen[typ.Name] = true
		if typ.Doc == "" || typ.Level == "" {
			t.Errorf("%s: doc %q, level %q", typ.Name, typ.Doc, typ.Level)
		}
		fields := map[string]bool{}
		for _, f := range typ.Fields {
			if f.Doc == "" || f.Type == "" {
				t.Errorf("%s.%s: doc %q, type %q", typ.Name, f.Name, f.Doc, f.Type)
			}
			if fields[f.Name] {
				t.Errorf("%s has two fields named %s", typ.Name, f.Name)
			}
			fields[f.Name] = true
		}
	}
}

// moduleFiles parses every non-test Go file of the module.
func moduleFiles(t *testing.T) map[string]*ast.File {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files[rel] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found %d Go files under %s; is this the module?", len(files), root)
	}
	return files
}

// Every event goes through an Emitter: a log line that names an event
// itself (Str("event", …)) would reach the log but not the bus.
func TestNoPackageLogsAnEventDirectly(t *testing.T) {
	for path, f := range moduleFiles(t) {
		if filepath.Dir(path) == "events" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if key, _ := strconv.Unquote(lit.Value); key == "event" {
				t.Errorf("%s: %s(%q, …) logs an event by name; emit a typed event (events.Emitter) instead", path, sel.Sel.Name, key)
			}
			return true
		})
	}
}

// Every event type is registered, so the docs' reference lists it, and
// only package events declares event types.
func TestEveryEventTypeIsRegistered(t *testing.T) {
	registered := map[string]bool{}
	for _, typ := range Registry() {
		registered[reflect.TypeOf(typ.Example).Name()] = true
	}
	declared := 0
	for path, f := range moduleFiles(t) {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "EventName" {
				continue
			}
			recv := fn.Recv.List[0].Type
			if star, ok := recv.(*ast.StarExpr); ok {
				recv = star.X
			}
			name := recv.(*ast.Ident).Name
			if filepath.Dir(path) != "events" {
				t.Errorf("%s: %s declares an event type outside package events", path, name)
				continue
			}
			declared++
			if !registered[name] {
				t.Errorf("%s: event type %s is not in Registry()", path, name)
			}
		}
	}
	if declared != len(registered) {
		t.Errorf("%d event types declared, %d registered", declared, len(registered))
	}
}
