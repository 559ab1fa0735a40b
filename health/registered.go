package health

import (
	"github.com/drover-dev/drover/jobs"
	"github.com/hashicorp/nomad/api"
)

// AsRegistered is job as Nomad stores it after a register that gave it
// version, as far as Watched and TargetOf read it: a copy with the defaults
// Nomad's HTTP API fills in before storing a job (api.Job.Canonicalize:
// the type, each group's update strategy, ...). It lets drover judge a
// rollout on the job it sent instead of reading the job back after every
// register. job is not modified.
func AsRegistered(job *api.Job, version uint64) (*api.Job, error) {
	// A deep copy: Canonicalize writes into the groups and tasks, which
	// the sent job shares with the loaded file.
	c, err := jobs.Copy(job)
	if err != nil {
		return nil, err
	}
	c.Canonicalize()
	// Canonicalize has merged the job's update block into each group's;
	// Nomad keeps only its stagger and max_parallel at the job level
	// (ApiJobToStructJob), where the defaults would otherwise stand in for
	// a min_healthy_time the groups override.
	if u := c.Update; u != nil {
		c.Update = nil
		if u.MaxParallel != nil && *u.MaxParallel > 0 {
			c.Update = &api.UpdateStrategy{Stagger: u.Stagger, MaxParallel: u.MaxParallel}
		}
	}
	c.Version = &version
	return c, nil
}
