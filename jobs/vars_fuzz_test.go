package jobs

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// FuzzVariablesResolve feeds any var file and any --var flag to resolve and
// checks what reaches Nomad: one valid var-file body defining every
// variable once, file expressions kept verbatim, and the flag's value
// arriving as exactly that string, never as HCL it could inject.
func FuzzVariablesResolve(f *testing.F) {
	const limit = 4 << 10
	f.Fuzz(func(t *testing.T, varFile, name, value string) {
		tree := &fakeTree{files: map[string]string{"v.hcl": varFile}}
		v := Variables{Files: []string{"v.hcl"}, Flags: map[string]string{name: value}}
		res, err := v.resolve(tree, limit)

		var tooLarge *FileTooLargeError
		if len(varFile) > limit {
			if !errors.As(err, &tooLarge) || tooLarge.Path != "v.hcl" || tooLarge.Limit != limit {
				t.Fatalf("a %d-byte var file: %v, want a FileTooLargeError", len(varFile), err)
			}
			return
		}
		if errors.As(err, &tooLarge) {
			t.Fatalf("a %d-byte var file refused as too large: %v", len(varFile), err)
		}
		src, diags := hclsyntax.ParseConfig([]byte(varFile), "v.hcl", hcl.InitialPos)
		var fileAttrs hcl.Attributes
		if !diags.HasErrors() {
			fileAttrs, diags = src.Body.JustAttributes()
		}
		switch {
		case diags.HasErrors():
			if err == nil || !strings.Contains(err.Error(), "v.hcl") {
				t.Fatalf("a var file that does not parse: %v, want an error naming v.hcl", err)
			}
			return
		case !hclsyntax.ValidIdentifier(name):
			if err == nil || !strings.Contains(err.Error(), "not a valid HCL identifier") {
				t.Fatalf("flag name %q: %v, want an invalid identifier error", name, err)
			}
			return
		case err != nil:
			t.Fatalf("resolve of a valid file and flag: %v", err)
		}

		if res.files != varFile+"\n" {
			t.Fatalf("submission variables %q, want the file's own content", res.files)
		}
		body, diags := hclsyntax.ParseConfig([]byte(res.text), "merged", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("merged variables do not parse: %v\n%s", diags, res.text)
		}
		attrs, diags := body.Body.JustAttributes()
		if diags.HasErrors() {
			t.Fatalf("merged variables are not one definition each: %v\n%s", diags, res.text)
		}
		want := len(fileAttrs)
		if _, ok := fileAttrs[name]; !ok {
			want++
		}
		if len(attrs) != want {
			t.Fatalf("%d variables defined, want %d:\n%s", len(attrs), want, res.text)
		}
		for n, a := range fileAttrs {
			if n == name {
				continue
			}
			got := string(attrs[n].Expr.Range().SliceBytes([]byte(res.text)))
			if orig := string(a.Expr.Range().SliceBytes([]byte(varFile))); got != orig {
				t.Fatalf("variable %s = %s, want the file's %s", n, got, orig)
			}
		}
		flag, diags := attrs[name].Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("flag %s = %q does not evaluate on its own: %v", name, value, diags)
		}
		if !flag.IsKnown() || flag.IsNull() || flag.Type().FriendlyName() != "string" {
			t.Fatalf("flag %s = %q arrives as %#v, not a string", name, value, flag)
		}
		// HCL normalizes strings to Unicode NFC, so only an ASCII value
		// must arrive byte for byte; every character that could escape a
		// string literal is ASCII.
		if isASCII(value) && flag.AsString() != value {
			t.Fatalf("flag %s = %q arrives as %q", name, value, flag.AsString())
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
