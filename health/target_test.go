package health

import (
	"maps"
	"slices"
	"testing"

	"github.com/hashicorp/nomad/api"
)

func TestTargetOf_RegisteredJobs(t *testing.T) {
	// job-ok.json and job-multi.json are trimmed answers of /v1/job/:id
	// from a dev agent, so names are as Nomad filled them in.
	tests := []struct {
		file string
		want Target
	}{{
		file: "job-ok.json",
		want: Target{Namespace: "default", JobID: "ok", Services: []string{"ok"}, Checks: map[string]int{"web": 1}},
	}, {
		// Group "api": "${NOMAD_JOB_NAME}-api" with two checks, the
		// unresolvable "${NOMAD_META_tier}-api" with one, and task
		// "server"'s service with no name given (Nomad stored it as
		// "multi-api-server") with one. Group "side": provider "nomad".
		file: "job-multi.json",
		want: Target{Namespace: "default", JobID: "multi", Services: []string{"multi-api", "multi-api-server"}, Checks: map[string]int{"api": 3}},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var job api.Job
			loadJSON(t, tt.file, &job)
			checkTarget(t, TargetOf(&job), tt.want)
		})
	}
}

func TestTargetOf(t *testing.T) {
	check := func(name string) api.ServiceCheck { return api.ServiceCheck{Name: name, Type: "http", Path: "/health"} }
	tests := []struct {
		name string
		job  *api.Job
		want Target
	}{{
		name: "group and task services",
		job: &api.Job{ID: ptr("web"), Name: ptr("web"), Namespace: ptr("prod"), Version: ptr(uint64(7)),
			TaskGroups: []*api.TaskGroup{{
				Name:     ptr("front"),
				Services: []*api.Service{{Name: "front", Checks: []api.ServiceCheck{check("a"), check("b")}}},
				Tasks: []*api.Task{
					{Name: "nginx", Services: []*api.Service{{Name: "nginx", Provider: "consul", Checks: []api.ServiceCheck{check("c")}}}},
					{Name: "sidecar"},
				},
			}, {
				Name:  ptr("back"),
				Tasks: []*api.Task{{Name: "api", Services: []*api.Service{{Name: "api", Checks: []api.ServiceCheck{check("d")}}}}},
			}}},
		want: Target{Namespace: "prod", JobID: "web", Version: 7, Services: []string{"api", "front", "nginx"}, Checks: map[string]int{"front": 3, "back": 1}},
	}, {
		name: "provider nomad is not watched in Consul",
		job: &api.Job{ID: ptr("web"), Name: ptr("web"), TaskGroups: []*api.TaskGroup{{
			Name: ptr("g"),
			Services: []*api.Service{
				{Name: "in-nomad", Provider: "nomad", Checks: []api.ServiceCheck{check("a")}},
				{Name: "in-consul", Provider: "consul", Checks: []api.ServiceCheck{check("b")}},
			},
		}}},
		want: Target{JobID: "web", Services: []string{"in-consul"}, Checks: map[string]int{"g": 1}},
	}, {
		name: "default names",
		job: &api.Job{ID: ptr("shop"), Name: ptr("shop"), TaskGroups: []*api.TaskGroup{{
			Name:     ptr("cart"),
			Services: []*api.Service{{PortLabel: "http"}},
			Tasks:    []*api.Task{{Name: "server", Services: []*api.Service{{PortLabel: "admin", Checks: []api.ServiceCheck{check("a")}}}}},
		}}},
		want: Target{JobID: "shop", Services: []string{"shop-cart", "shop-cart-server"}, Checks: map[string]int{"cart": 1}},
	}, {
		name: "interpolation",
		job: &api.Job{ID: ptr("shop-id"), Name: ptr("shop"), Namespace: ptr("retail"), Region: ptr("eu"), TaskGroups: []*api.TaskGroup{{
			Name: ptr("cart"),
			Services: []*api.Service{
				{Name: "${NOMAD_JOB_NAME}-api"},
				{Name: "${JOB}-${TASKGROUP}-x"},
				{Name: "${NOMAD_JOB_ID}.${NOMAD_GROUP_NAME}.${NOMAD_NAMESPACE}.${NOMAD_REGION}"},
			},
			Tasks: []*api.Task{{Name: "server", Services: []*api.Service{{Name: "${NOMAD_TASK_NAME}-${TASK}"}}}},
		}}},
		want: Target{Namespace: "retail", JobID: "shop-id", Services: []string{"server-server", "shop-api", "shop-cart-x", "shop-id.cart.retail.eu"}, Checks: map[string]int{"cart": 0}},
	}, {
		name: "unresolvable names are skipped with their checks",
		job: &api.Job{ID: ptr("shop"), Name: ptr("shop"), Meta: map[string]string{"tier": "gold"}, TaskGroups: []*api.TaskGroup{{
			Name: ptr("cart"),
			Services: []*api.Service{
				{Name: "${NOMAD_META_tier}-api", Checks: []api.ServiceCheck{check("a"), check("b")}},
				{Name: "${node.unique.name}-cart", Checks: []api.ServiceCheck{check("c")}},
				{Name: "cart", Checks: []api.ServiceCheck{check("d")}},
			},
		}}},
		want: Target{JobID: "shop", Services: []string{"cart"}, Checks: map[string]int{"cart": 1}},
	}, {
		name: "a name used twice is watched once, its checks counted twice",
		job: &api.Job{ID: ptr("shop"), Name: ptr("shop"), TaskGroups: []*api.TaskGroup{{
			Name: ptr("cart"),
			Services: []*api.Service{
				{Name: "cart", PortLabel: "http", Checks: []api.ServiceCheck{check("a")}},
				{Name: "cart", PortLabel: "grpc", Checks: []api.ServiceCheck{check("b")}},
			},
		}}},
		want: Target{JobID: "shop", Services: []string{"cart"}, Checks: map[string]int{"cart": 2}},
	}, {
		name: "auto_revert in any group",
		job: &api.Job{ID: ptr("shop"), Name: ptr("shop"), TaskGroups: []*api.TaskGroup{
			{Name: ptr("a"), Update: &api.UpdateStrategy{AutoRevert: ptr(false)}},
			{Name: ptr("b"), Update: &api.UpdateStrategy{AutoRevert: ptr(true)}},
		}},
		want: Target{JobID: "shop", Checks: map[string]int{}, AutoRevert: true},
	}, {
		name: "no services",
		job:  &api.Job{ID: ptr("plain"), Name: ptr("plain"), TaskGroups: []*api.TaskGroup{{Name: ptr("work"), Tasks: []*api.Task{{Name: "sleep"}}}}},
		want: Target{JobID: "plain", Checks: map[string]int{}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkTarget(t, TargetOf(tt.job), tt.want)
		})
	}
}

func checkTarget(t *testing.T, got, want Target) {
	t.Helper()
	if got.Namespace != want.Namespace || got.JobID != want.JobID || got.Version != want.Version {
		t.Errorf("job = %s/%s@%d, want %s/%s@%d", got.Namespace, got.JobID, got.Version, want.Namespace, want.JobID, want.Version)
	}
	if !slices.Equal(got.Services, want.Services) {
		t.Errorf("Services = %q, want %q", got.Services, want.Services)
	}
	if got.AutoRevert != want.AutoRevert {
		t.Errorf("AutoRevert = %v, want %v", got.AutoRevert, want.AutoRevert)
	}
	if !maps.Equal(got.Checks, want.Checks) {
		t.Errorf("Checks = %v, want %v", got.Checks, want.Checks)
	}
}

func TestWatched(t *testing.T) {
	for _, tt := range []struct {
		typ  *string
		want bool
	}{
		{ptr("service"), true},
		{ptr("system"), true},
		{nil, true}, // Nomad's default type is service
		{ptr("batch"), false},
		{ptr("sysbatch"), false},
	} {
		if got := Watched(&api.Job{Type: tt.typ}); got != tt.want {
			t.Errorf("Watched(type %q) = %v, want %v", deref(tt.typ), got, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
