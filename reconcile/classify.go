package reconcile

import (
	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// classify decides a job's class from the cluster's copy (nil when absent),
// drover's meta on it, and the changes its plan found.
func classify(stub *api.JobListStub, desiredFingerprint string, owner jobs.Ownership, owned bool, changes []string, places bool) Class {
	switch {
	case stub == nil || stub.Stop:
		return Create
	case stub.Status == "dead" && (stub.Type == "service" || stub.Type == "system") && places:
		// A dead batch job has simply finished; a dead service needs
		// registering again to run at all. One with nothing to place
		// (every count 0, or scaled to zero by the autoscaler) is dead by
		// design: registering it again would leave it dead, every cycle.
		return Create
	case len(changes) == 0:
		return InSync
	case owned && owner.Fingerprint != desiredFingerprint:
		return Update
	default:
		// The spec is the one drover applied, or the job was registered
		// outside drover (a hand `nomad job run` drops drover's meta).
		return Drift
	}
}

// places reports whether a plan would start any allocation.
func places(groups map[string]GroupCounts) bool {
	for _, g := range groups {
		if g.Place > 0 {
			return true
		}
	}
	return false
}
