package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/hashicorp/nomad/api"
)

// Ownership meta keys drover sets on every job it registers.
const (
	// MetaManaged is "true" on every job drover registered.
	MetaManaged = "drover.managed"
	// MetaCommit is the full SHA of the commit whose spec the job runs.
	MetaCommit = "drover.commit"
	// MetaPath is the job file, relative to the repository root.
	MetaPath = "drover.path"
	// MetaFingerprint is a hash of the parsed spec without drover's own
	// meta: it tells a change in git (update) from one in the cluster
	// (drift).
	MetaFingerprint = "drover.fingerprint"
	// MetaInstance is --instance, so two drovers sharing a cluster never
	// prune each other's jobs.
	MetaInstance = "drover.instance"
	// MetaSource names the source (--config) a job was read from; absent
	// for a job of the single source given by flags.
	MetaSource = "drover.source"
)

// MetaHealthFailAfter, set in a job file, overrides --health-fail-after
// for that job (a duration such as "3m"; "0s" waits for the deadline).
// Unlike the ownership keys it is the user's: a change to it is a change
// to the spec.
const MetaHealthFailAfter = "drover.health_fail_after"

// Ownership is what drover records on a job it registers.
type Ownership struct {
	// Commit is the commit whose spec this is: it only moves when git
	// changes the job's spec.
	Commit      string
	Path        string
	Fingerprint string
	// Instance names the drover that owns the job, so two drovers sharing
	// a cluster never prune each other's jobs.
	Instance string
	// Source is the named source of the job, "" with a single source.
	Source string
}

// Stamp returns a copy of job carrying o as meta. The input is not modified:
// parsed jobs are shared between cycles.
func Stamp(job *api.Job, o Ownership) *api.Job {
	c := *job
	c.Meta = make(map[string]string, len(job.Meta)+6)
	for k, v := range job.Meta {
		c.Meta[k] = v
	}
	c.Meta[MetaManaged] = "true"
	c.Meta[MetaPath] = o.Path
	c.Meta[MetaFingerprint] = o.Fingerprint
	c.Meta[MetaInstance] = o.Instance
	if o.Commit != "" {
		c.Meta[MetaCommit] = o.Commit
	}
	if o.Source != "" {
		c.Meta[MetaSource] = o.Source
	}
	return &c
}

// OwnershipOf reads drover's meta from a cluster job's meta; ok is false when
// the job is not managed by the named instance.
func OwnershipOf(meta map[string]string, instance string) (o Ownership, ok bool) {
	if meta[MetaManaged] != "true" || meta[MetaInstance] != instance {
		return Ownership{}, false
	}
	return Ownership{
		Commit:      meta[MetaCommit],
		Path:        meta[MetaPath],
		Fingerprint: meta[MetaFingerprint],
		Instance:    meta[MetaInstance],
		Source:      meta[MetaSource],
	}, true
}

// IsOwnMeta reports whether a meta key is one drover writes; a plan whose
// only differences are these keys is in sync. Other drover.* keys (such as
// MetaHealthFailAfter) are set by people in git and are part of the spec.
func IsOwnMeta(key string) bool {
	switch key {
	case MetaManaged, MetaCommit, MetaPath, MetaFingerprint, MetaInstance, MetaSource:
		return true
	}
	return false
}

// Fingerprint hashes the job's spec as parsed, ignoring drover's own meta.
// Nomad's parse output is deterministic for the same source and variables,
// and encoding/json sorts map keys, so the hash is stable.
func Fingerprint(job *api.Job) (string, error) {
	c := *job
	if len(job.Meta) > 0 {
		c.Meta = map[string]string{}
		for k, v := range job.Meta {
			if !IsOwnMeta(k) {
				c.Meta[k] = v
			}
		}
		if len(c.Meta) == 0 {
			// Encode as the job without meta does: a stamped job and
			// its source must hash the same.
			c.Meta = nil
		}
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}
