package health

import (
	"fmt"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/hashicorp/nomad/api"
)

// allocOf and deploymentOf decode an event's payload into only what a
// verdict reads. The API client's Event.Allocation decodes the whole
// allocation (resources, metrics, networks) by reflection, which during a
// big deploy is most of the watch's CPU; the fields a verdict reads are a
// fraction of it. Even the list stub has more than those (its resources,
// and in each task event some thirty fields), so the event is decoded into
// eventAlloc and copied into a stub.
func allocOf(e *api.Event) (*api.AllocationListStub, string, error) {
	var out struct{ Allocation *eventAlloc }
	// No field of eventAlloc is a time: no hook to run on every value.
	if err := decodePayload(e, &out, nil); err != nil || out.Allocation == nil {
		return nil, "", err
	}
	return out.Allocation.stub(), out.Allocation.DeploymentID, nil
}

// eventAlloc is what Assess reads of an allocation, and what places it.
type eventAlloc struct {
	ID, Namespace, JobID, TaskGroup, DeploymentID  string
	DesiredStatus, ClientStatus, ClientDescription string
	DeploymentStatus                               *struct{ Healthy *bool }
	TaskStates                                     map[string]*eventTaskState
	CreateIndex, ModifyIndex                       uint64
}

type eventTaskState struct {
	State    string
	Failed   bool
	Restarts uint64
	Events   []*eventTaskEvent
}

type eventTaskEvent struct {
	Type, Message, DisplayMessage string
	Time                          int64
}

func (a *eventAlloc) stub() *api.AllocationListStub {
	stub := &api.AllocationListStub{
		ID: a.ID, Namespace: a.Namespace, JobID: a.JobID, TaskGroup: a.TaskGroup,
		DesiredStatus: a.DesiredStatus, ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription,
		CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex,
	}
	if a.DeploymentStatus != nil {
		stub.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: a.DeploymentStatus.Healthy}
	}
	if a.TaskStates != nil {
		stub.TaskStates = make(map[string]*api.TaskState, len(a.TaskStates))
	}
	for name, ts := range a.TaskStates {
		if ts == nil {
			continue
		}
		st := &api.TaskState{State: ts.State, Failed: ts.Failed, Restarts: ts.Restarts, Events: make([]*api.TaskEvent, 0, len(ts.Events))}
		for _, ev := range ts.Events {
			if ev != nil {
				st.Events = append(st.Events, &api.TaskEvent{Type: ev.Type, Message: ev.Message, DisplayMessage: ev.DisplayMessage, Time: ev.Time})
			}
		}
		stub.TaskStates[name] = st
	}
	return stub
}

func deploymentOf(e *api.Event) (*api.Deployment, error) {
	var out struct{ Deployment *api.Deployment }
	if err := decodePayload(e, &out, mapstructure.StringToTimeHookFunc(time.RFC3339)); err != nil {
		return nil, err
	}
	return out.Deployment, nil
}

// decodePayload decodes e's payload the way the API client does; times
// need hook, mapstructure.StringToTimeHookFunc(time.RFC3339).
func decodePayload(e *api.Event, out any, hook mapstructure.DecodeHookFunc) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: out, DecodeHook: hook})
	if err != nil {
		return err
	}
	if err := dec.Decode(e.Payload); err != nil {
		return fmt.Errorf("decode %s event: %w", e.Topic, err)
	}
	return nil
}
