package jobs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

func TestDependsOn(t *testing.T) {
	tests := []struct {
		name string
		meta map[string]string
		want []Key
		err  string
	}{
		{name: "no meta"},
		{name: "empty", meta: map[string]string{MetaDependsOn: " , "}},
		{name: "name is in the job's namespace", meta: map[string]string{MetaDependsOn: "vault"},
			want: []Key{{"infra", "vault"}}},
		{name: "namespaced, trimmed, empty entries and repeats dropped",
			meta: map[string]string{MetaDependsOn: " default/vault ,, infra/registry,default/vault,"},
			want: []Key{{"default", "vault"}, {"infra", "registry"}}},
		{name: "no namespace before the slash", meta: map[string]string{MetaDependsOn: "/vault"}, err: `"/vault" is not a job`},
		{name: "no name after the slash", meta: map[string]string{MetaDependsOn: "default/"}, err: `"default/" is not a job`},
		{name: "two slashes", meta: map[string]string{MetaDependsOn: "a/b/c"}, err: "a job ID has no slash"},
		{name: "spaces instead of commas", meta: map[string]string{MetaDependsOn: "vault registry"}, err: "separated by commas"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &File{Path: "app.nomad.hcl", Job: &api.Job{ID: ptr("app"), Namespace: ptr("infra"), Meta: tc.meta}}
			got, err := f.DependsOn()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) ||
					!strings.HasPrefix(err.Error(), "app.nomad.hcl: meta drover.depends_on: ") {
					t.Fatalf("err = %v; want one naming the file and the meta key, with %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DependsOn() = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
