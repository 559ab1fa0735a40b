package jobs

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func TestVariables_Resolve(t *testing.T) {
	files := map[string]string{
		"vars/base.hcl": "image = \"nginx:1\"\ncount = 1\ndatacenters = [\"a\",\"b\"]\n",
		"vars/prod.hcl": "# prod\ncount = 3\nlabels = { team = \"web\" }\n",
	}
	tests := []struct {
		name     string
		vars     Variables
		wantText string
	}{
		{
			name:     "nothing",
			vars:     Variables{},
			wantText: "",
		},
		{
			name:     "one file keeps expressions verbatim and in source order",
			vars:     Variables{Files: []string{"vars/base.hcl"}},
			wantText: "image = \"nginx:1\"\ncount = 1\ndatacenters = [\"a\",\"b\"]\n",
		},
		{
			name:     "later file overrides earlier one in place",
			vars:     Variables{Files: []string{"vars/base.hcl", "vars/prod.hcl"}},
			wantText: "image = \"nginx:1\"\ncount = 3\ndatacenters = [\"a\",\"b\"]\nlabels = { team = \"web\" }\n",
		},
		{
			name: "flags override files and are quoted",
			vars: Variables{
				Files: []string{"vars/base.hcl", "vars/prod.hcl"},
				Flags: map[string]string{"image": "nginx:2", "zone": "eu"},
			},
			wantText: "image = \"nginx:2\"\ncount = 3\ndatacenters = [\"a\",\"b\"]\nlabels = { team = \"web\" }\nzone = \"eu\"\n",
		},
		{
			name:     "flags alone are sorted by name",
			vars:     Variables{Flags: map[string]string{"b": "2", "a": "1"}},
			wantText: "a = \"1\"\nb = \"2\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.vars.resolve(&fakeTree{files: files}, DefaultMaxFileSize)
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if got.text != tt.wantText {
				t.Errorf("text =\n%s\nwant\n%s", got.text, tt.wantText)
			}
			var wantFiles strings.Builder
			for _, p := range tt.vars.Files {
				wantFiles.WriteString(files[p] + "\n")
			}
			if got.files != wantFiles.String() {
				t.Errorf("files =\n%q\nwant\n%q", got.files, wantFiles.String())
			}
			// What the parse API receives must itself be valid HCL.
			if _, diags := hclsyntax.ParseConfig([]byte(got.text), "merged.hcl", hcl.InitialPos); diags.HasErrors() {
				t.Errorf("merged text does not parse: %v", diags)
			}
		})
	}
}

func TestVariables_ResolveRejects(t *testing.T) {
	files := map[string]string{
		"vars/ok.hcl":     "image = \"nginx\"\n",
		"vars/broken.hcl": "image = \"nginx\"\ncount = \nzone = \"eu\"\n",
		"vars/block.hcl":  "image = \"nginx\"\nvariable \"x\" {}\n",
	}
	tests := []struct {
		name string
		vars Variables
		want []string // substrings of the error
	}{
		{
			name: "syntax error names file and line",
			vars: Variables{Files: []string{"vars/ok.hcl", "vars/broken.hcl"}},
			want: []string{"vars/broken.hcl:2"},
		},
		{
			name: "blocks are not variable definitions",
			vars: Variables{Files: []string{"vars/block.hcl"}},
			want: []string{"vars/block.hcl:2"},
		},
		{
			name: "missing file is named",
			vars: Variables{Files: []string{"vars/nope.hcl"}},
			want: []string{"var file vars/nope.hcl"},
		},
		{
			name: "flag name starting with a digit",
			vars: Variables{Flags: map[string]string{"1image": "x"}},
			want: []string{`"1image"`, "not a valid HCL identifier"},
		},
		{
			name: "flag name with a space",
			vars: Variables{Flags: map[string]string{"my image": "x"}},
			want: []string{`"my image"`, "not a valid HCL identifier"},
		},
		{
			name: "empty flag name",
			vars: Variables{Flags: map[string]string{"": "x"}},
			want: []string{`""`, "not a valid HCL identifier"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.vars.resolve(&fakeTree{files: files}, DefaultMaxFileSize)
			if err == nil {
				t.Fatal("resolve succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestHCLString_RoundTrips(t *testing.T) {
	inputs := []string{
		"",
		"plain",
		`say "hi"`,
		`C:\path\`,
		`\n is not a newline`,
		"line1\nline2\r\n",
		"tab\there",
		"bell\x07 and del\x7f",
		"${var.secret}",
		"%{ if true }yes%{ endif }",
		"$${already doubled",
		"$$",
		"100% $5 {}",
		"trailing $",
		"trailing %",
		"unicode ✓ ünïcödé",
	}
	for _, in := range inputs {
		t.Run(in, func(t *testing.T) {
			lit := hclString(in)
			expr, diags := hclsyntax.ParseExpression([]byte(lit), "flag", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatalf("hclString(%q) = %s does not parse: %v", in, lit, diags)
			}
			// No EvalContext: any interpolation left in the literal fails.
			v, diags := expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("hclString(%q) = %s does not evaluate: %v", in, lit, diags)
			}
			if got := v.AsString(); got != in {
				t.Errorf("hclString(%q) = %s evaluates to %q", in, lit, got)
			}
		})
	}
}
