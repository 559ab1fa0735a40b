package jobs

import (
	"slices"
	"strings"
	"testing"
)

func TestSelector_Select(t *testing.T) {
	// Deliberately unsorted, with files that only look like jobs.
	tree := []string{
		"prod/web.nomad.hcl",
		"README.md",
		"web.nomad",
		"prod/disabled/old.nomad",
		"staging/api.nomad",
		"prod/vars.hcl",
		"prod/web.nomad.json",
		"prod/db/db.nomad",
		"nomad",
		"notes.nomad.txt",
		"production/cache.nomad",
	}
	tests := []struct {
		name string
		sel  Selector
		want []string
	}{
		{
			name: "default globs match root and nested job files only",
			sel:  Selector{},
			want: []string{
				"prod/db/db.nomad",
				"prod/disabled/old.nomad",
				"prod/web.nomad.hcl",
				"production/cache.nomad",
				"staging/api.nomad",
				"web.nomad",
			},
		},
		{
			name: "dirs restrict the search",
			sel:  Selector{Dirs: []string{"prod"}},
			want: []string{"prod/db/db.nomad", "prod/disabled/old.nomad", "prod/web.nomad.hcl"},
		},
		{
			name: "dir names are cleaned",
			sel:  Selector{Dirs: []string{"./staging/"}},
			want: []string{"staging/api.nomad"},
		},
		{
			name: "dir dot is the root",
			sel:  Selector{Dirs: []string{"."}, Include: []string{"*.nomad"}},
			want: []string{"web.nomad"},
		},
		{
			name: "several dirs, overlapping, list each file once",
			sel:  Selector{Dirs: []string{"staging", "prod", "prod/db"}},
			want: []string{"prod/db/db.nomad", "prod/disabled/old.nomad", "prod/web.nomad.hcl", "staging/api.nomad"},
		},
		{
			name: "exclude removes matches",
			sel:  Selector{Exclude: []string{"**/disabled/**", "web.nomad"}},
			want: []string{"prod/db/db.nomad", "prod/web.nomad.hcl", "production/cache.nomad", "staging/api.nomad"},
		},
		{
			name: "globs are relative to each dir",
			sel:  Selector{Dirs: []string{"prod"}, Include: []string{"*.nomad*"}, Exclude: []string{"*.json"}},
			want: []string{"prod/web.nomad.hcl"},
		},
		{
			name: "nothing matches",
			sel:  Selector{Dirs: []string{"missing"}},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.sel.Select(tree)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Select() =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestSelector_ValidateRejectsBadGlob(t *testing.T) {
	tests := []struct {
		name    string
		sel     Selector
		badGlob string
	}{
		{name: "defaults", sel: Selector{}},
		{name: "good globs", sel: Selector{Include: []string{"jobs/**/*.hcl"}, Exclude: []string{"**/{a,b}/*"}}},
		{name: "unclosed class in include", sel: Selector{Include: []string{"jobs/[a.nomad"}}, badGlob: "jobs/[a.nomad"},
		{name: "unclosed brace in exclude", sel: Selector{Exclude: []string{"**/{a,b"}}, badGlob: "**/{a,b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.sel.Validate()
			if tt.badGlob == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.badGlob) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tt.badGlob)
			}
		})
	}
}

func TestSelector_ValidateRefusesPathsOutsideTheRepo(t *testing.T) {
	tests := []struct {
		dir     string
		wantErr string
	}{
		{dir: ""},
		{dir: "."},
		{dir: "./"},
		{dir: "prod"},
		{dir: "prod/"},
		{dir: "./staging"},
		{dir: "a/../b"},
		{dir: "a/.."},
		{dir: "..", wantErr: "leaves the repository"},
		{dir: "../..", wantErr: "leaves the repository"},
		{dir: "./../x", wantErr: "leaves the repository"},
		{dir: "a/../../b", wantErr: "leaves the repository"},
		{dir: "/etc", wantErr: "absolute path"},
		{dir: "/", wantErr: "absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			err := Selector{Dirs: []string{"ok", tt.dir}}.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `--path "`+tt.dir+`"`) {
				t.Fatalf("Validate() = %v, want an error naming --path %q: %s", err, tt.dir, tt.wantErr)
			}
		})
	}
}
