package health

import (
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// realisticAllocation is an allocation as an Allocation event carries it
// after its task started: the job left out, as Nomad does, but its
// resources, metrics and task events in.
func realisticAllocation() *api.Allocation {
	now := time.Now().UnixNano()
	var evs []*api.TaskEvent
	for _, typ := range []string{"Received", "Task Setup", "Driver", "Started", "Restart Signaled", "Started"} {
		evs = append(evs, &api.TaskEvent{Type: typ, Time: now, Message: "msg " + typ, DisplayMessage: "display " + typ,
			Details: map[string]string{"message": typ, "restart_reason": ""}, RestartReason: "", DriverMessage: "", TaskSignal: ""})
	}
	cpu, mem := 100, 128
	return &api.Allocation{
		ID: "3a25d529-bbc8-5f8e-1a2c-5c9a9d1e0b7f", Namespace: "default", EvalID: "e1", Name: "web.web[0]", NodeID: "n1", NodeName: "node-1",
		JobID: "web", TaskGroup: "web", DesiredStatus: "run", ClientStatus: "running", ClientDescription: "Tasks are running",
		DeploymentID: "d1", DeploymentStatus: &api.AllocDeploymentStatus{Healthy: new(false), Timestamp: time.Now()},
		Resources:          &api.Resources{CPU: &cpu, MemoryMB: &mem},
		TaskResources:      map[string]*api.Resources{"web": {CPU: &cpu, MemoryMB: &mem}},
		AllocatedResources: &api.AllocatedResources{Tasks: map[string]*api.AllocatedTaskResources{"web": {Cpu: api.AllocatedCpuResources{CpuShares: 100}, Memory: api.AllocatedMemoryResources{MemoryMB: 128}}}},
		Metrics:            &api.AllocationMetric{NodesEvaluated: 1, NodesAvailable: map[string]int{"dc1": 1}, ScoreMetaData: []*api.NodeScoreMeta{{NodeID: "n1", Scores: map[string]float64{"binpack": 0.5}, NormScore: 0.5}}},
		TaskStates:         map[string]*api.TaskState{"web": {State: "running", Restarts: 1, Failed: true, StartedAt: time.Now(), Events: evs}},
		CreateIndex:        10, ModifyIndex: 12, AllocModifyIndex: 10, CreateTime: now, ModifyTime: now,
	}
}

func BenchmarkAllocOf(b *testing.B) {
	e := event(api.TopicAllocation, "Allocation", realisticAllocation())
	b.ReportAllocs()
	for b.Loop() {
		if stub, _, err := allocOf(&e); err != nil || stub == nil {
			b.Fatal(err)
		}
	}
}

// TestAllocOf_KeepsWhatAVerdictReads: an allocation event decodes into
// the stub fields Assess reads, as the allocation's own stub has them.
func TestAllocOf_KeepsWhatAVerdictReads(t *testing.T) {
	a := realisticAllocation()
	e := event(api.TopicAllocation, "Allocation", a)
	got, deployment, err := allocOf(&e)
	if err != nil {
		t.Fatal(err)
	}
	if deployment != a.DeploymentID {
		t.Errorf("deployment = %q, want %q", deployment, a.DeploymentID)
	}
	want := a.Stub()
	for _, f := range []string{"ID", "Namespace", "JobID", "TaskGroup", "DesiredStatus", "ClientStatus", "ClientDescription", "CreateIndex", "ModifyIndex"} {
		if g, w := reflect.ValueOf(got).Elem().FieldByName(f).Interface(), reflect.ValueOf(want).Elem().FieldByName(f).Interface(); g != w {
			t.Errorf("%s = %v, want %v", f, g, w)
		}
	}
	if got.DeploymentStatus == nil || got.DeploymentStatus.Healthy == nil || *got.DeploymentStatus.Healthy {
		t.Errorf("deployment status = %+v, want unhealthy", got.DeploymentStatus)
	}
	ts, wts := got.TaskStates["web"], want.TaskStates["web"]
	if ts == nil || ts.State != wts.State || ts.Failed != wts.Failed || ts.Restarts != wts.Restarts || len(ts.Events) != len(wts.Events) {
		t.Fatalf("task state = %+v, want %+v", ts, wts)
	}
	for i, ev := range ts.Events {
		w := wts.Events[i]
		if ev.Type != w.Type || ev.Message != w.Message || ev.DisplayMessage != w.DisplayMessage || ev.Time/1e6 != w.Time/1e6 {
			t.Errorf("event %d = %+v, want %+v", i, ev, w)
		}
	}
}
