package docgen

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
)

// packageDecls parses a package's non-test files, with their comments,
// and returns their top-level declarations of kind D (*ast.GenDecl or
// *ast.FuncDecl) in file order: the registries the pages read are declared
// there.
func packageDecls[D ast.Decl](dir string) ([]D, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var decls []D
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		for _, decl := range f.Decls {
			if d, ok := decl.(D); ok {
				decls = append(decls, d)
			}
		}
	}
	return decls, nil
}
