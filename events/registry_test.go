package events

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

var eventName = regexp.MustCompile(`^[a-z]+\.[a-z_]+$`)

func TestRegistry_NamesAreUniqueAndEveryFieldIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	types := map[reflect.Type]bool{}
	for _, typ := range Registry() {
		if seen[typ.Name] {
			t.Errorf("%s registered twice", typ.Name)
		}
		seen[typ.Name] = true
		if rt := reflect.TypeOf(typ.Example); types[rt] {
			t.Errorf("type %s registered twice", rt)
		} else {
			types[rt] = true
		}
		if !eventName.MatchString(typ.Name) || typ.Doc == "" {
			t.Errorf("%s: name not area.what, or doc %q empty", typ.Name, typ.Doc)
		}
		// A type with a Level method: the registry gives its zero value's
		// level, the one the docs show.
		if NameOf(typ.Example) != typ.Name || LevelOf(typ.Example) != typ.Level {
			t.Errorf("%s: NameOf %q, LevelOf %s, registry level %s", typ.Name, NameOf(typ.Example), LevelOf(typ.Example), typ.Level)
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

func TestLevelOf_FollowsTheFieldsWhereTheTypeSaysSo(t *testing.T) {
	for _, tc := range []struct {
		e    Event
		want zerolog.Level
	}{
		{SyncDone{}, zerolog.InfoLevel},
		{SyncDone{Errors: 1}, zerolog.WarnLevel},
		{SyncDone{Result: "failed"}, zerolog.ErrorLevel},
		{LeaderLost{Reason: "stopped"}, zerolog.InfoLevel},
		{LeaderLost{Reason: "session invalidated"}, zerolog.WarnLevel},
		{WebhookIgnored{Routine: true}, zerolog.DebugLevel},
		{WebhookIgnored{}, zerolog.InfoLevel},
		{RolloutFailed{}, zerolog.ErrorLevel},
		{JobInSync{}, zerolog.DebugLevel},
	} {
		if got := LevelOf(tc.e); got != tc.want {
			t.Errorf("LevelOf(%#v) = %s, want %s", tc.e, got, tc.want)
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

// Every struct type package events declares is an event in the registry,
// so the docs' reference lists it and Emit knows its name and level, or a
// part of one (Subject, Delivery, …), or machinery; and every event the
// module emits as a literal is one of package events' types.
func TestEveryEventTypeIsRegistered(t *testing.T) {
	// notEvents are package events' machinery.
	notEvents := map[string]bool{"Entry": true, "Emitter": true, "Bus": true, "Type": true, "FieldDoc": true, "Field": true}
	registered, parts := map[string]bool{}, map[string]bool{}
	pkg := reflect.TypeOf(Subject{}).PkgPath()
	// partsOf marks the structs of package events that rt's fields hold.
	var partsOf func(rt reflect.Type)
	partsOf = func(rt reflect.Type) {
		for i := range rt.NumField() {
			ft := rt.Field(i).Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.PkgPath() == pkg {
				parts[ft.Name()] = true
				partsOf(ft)
			}
		}
	}
	for _, typ := range Registry() {
		rt := reflect.TypeOf(typ.Example)
		registered[rt.Name()] = true
		partsOf(rt)
	}
	for path, f := range moduleFiles(t) {
		if filepath.Dir(path) == "events" {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					if _, isStruct := ts.Type.(*ast.StructType); !isStruct || !ts.Name.IsExported() {
						continue
					}
					if name := ts.Name.Name; !registered[name] && !parts[name] && !notEvents[name] {
						t.Errorf("%s: %s is not in Registry(): register it (or, if it is not an event, add it to notEvents)", path, name)
					}
				}
			}
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			if fn, ok := call.Fun.(*ast.SelectorExpr); !ok || fn.Sel.Name != "Emit" {
				return true
			}
			lit, ok := call.Args[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			var pkgName *ast.Ident
			typ, _ := lit.Type.(*ast.SelectorExpr)
			if typ != nil {
				pkgName, _ = typ.X.(*ast.Ident)
			}
			if pkgName == nil || pkgName.Name != "events" || !registered[typ.Sel.Name] {
				t.Errorf("%s: Emit of %s, not a registered event type of package events", path, types.ExprString(lit.Type))
			}
			return true
		})
	}
}
