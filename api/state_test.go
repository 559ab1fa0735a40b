package api

import "testing"

// TestStateOf_OneStatePerJob: a job's own error first, then a rollout
// that needs a person or is in flight, then whether git and the cluster
// agree, then the rollout's verdict.
func TestStateOf_OneStatePerJob(t *testing.T) {
	inSync := &Job{Class: ClassInSync, State: SyncInSync}
	tests := []struct {
		name   string
		job    *Job
		ro     *JobRollout
		orphan *Orphan
		want   JobState
	}{
		{"error beats a rollout", &Job{Class: ClassUpdate, State: SyncError, Error: "plan: 500"}, &JobRollout{State: JobRolledBack}, nil, JobError},
		{"rolled back", inSync, &JobRollout{State: JobRolledBack}, nil, JobRolledBack},
		{"rolling out while applied", &Job{Class: ClassUpdate, State: SyncApplied}, &JobRollout{State: JobRollingOut}, nil, JobRollingOut},
		{"rollout's unknown", inSync, &JobRollout{State: JobUnknown}, nil, JobUnknown},
		{"orphan", nil, nil, &Orphan{Job: "old"}, JobOrphan},
		{"orphan still in the report", inSync, nil, &Orphan{Job: "old"}, JobInSync},
		{"held", &Job{Class: ClassDrift, State: SyncHeld, Held: "suspended"}, &JobRollout{State: JobHealthy}, nil, JobHeld},
		{"a hold on a job in sync held nothing", &Job{Class: ClassInSync, State: SyncInSync, Held: "rollout in flight"}, &JobRollout{State: JobHealthy}, nil, JobHealthy},
		{"out of sync", &Job{Class: ClassCreate, State: SyncOutOfSync}, nil, nil, JobOutOfSync},
		{"conflict is an error", &Job{Class: ClassUpdate, State: SyncConflict, Error: "check-index refused"}, nil, nil, JobError},
		{"healthy", inSync, &JobRollout{State: JobHealthy}, nil, JobHealthy},
		{"in sync, never rolled out", inSync, nil, nil, JobInSync},
		{"applied, no rollout yet", &Job{Class: ClassCreate, State: SyncApplied}, nil, nil, JobInSync},
		{"rollout only", nil, &JobRollout{State: JobUnverified}, nil, JobUnverified},
		{"nothing", nil, nil, nil, JobUnknown},
	}
	for _, tt := range tests {
		if got := StateOf(tt.job, tt.ro, tt.orphan); got != tt.want {
			t.Errorf("%s: StateOf = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestJobState_RankAndWord: states rank in the documented order, an
// unknown one last, and read as words.
func TestJobState_RankAndWord(t *testing.T) {
	all := JobStates()
	if len(all) != 13 || all[0] != JobError || all[len(all)-1] != JobHealthy {
		t.Fatalf("JobStates = %v", all)
	}
	for i, s := range all {
		if s.Rank() != i {
			t.Errorf("%s.Rank() = %d, want %d", s, s.Rank(), i)
		}
	}
	if r := JobState("new_state").Rank(); r != len(all) {
		t.Errorf("an unknown state ranks %d, want last (%d)", r, len(all))
	}
	if w := JobRollbackFailed.Word(); w != "rollback failed" {
		t.Errorf("Word = %q", w)
	}
}
