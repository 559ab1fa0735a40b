// Package jobs turns the job files of one commit into Nomad jobs: it selects
// the files, parses them with the cluster's own HCL2 parser (so the semantics
// match `nomad job run` exactly), and stamps them with drover's ownership meta.
package jobs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// Tree is a read-only view of the repository at one revision.
type Tree interface {
	// Revision is the full commit SHA, or "" for a plain directory.
	Revision() string
	// Files lists every regular file, slash-separated and repo-relative.
	Files() ([]string, error)
	ReadFile(path string) ([]byte, error)
}

// CommitDescriber is a Tree that can say what its commit is; a plain
// directory cannot.
type CommitDescriber interface {
	CommitInfo() CommitInfo
}

// Parser converts HCL2 job source to a job. It is satisfied by the Nomad
// adapter in package nomadapi, which calls /v1/jobs/parse.
type Parser interface {
	ParseJob(ctx context.Context, req *api.JobsParseRequest) (*api.Job, error)
}

// File is one job file of a tree and what became of it.
type File struct {
	// Path is repo-relative and slash-separated.
	Path string
	// Source is the file's HCL, registered as the job's submission.
	Source []byte
	// Job is the parsed job, without ownership meta. Nil when Err is set.
	Job *api.Job
	// Fingerprint identifies the job's spec: equal fingerprints mean git did
	// not change what the cluster should run.
	Fingerprint string
	// Ignore are the fields the job's drover.ignore meta hands to other
	// tools: a difference in them is not drift and a register keeps the
	// cluster's value.
	Ignore []IgnorePath
	// Submission records the source and variables the job was parsed with.
	Submission *api.JobSubmission
	// Commit is the commit the file was read at when that is not the set's
	// revision: the last good commit a rollback puts back.
	Commit string
	// Hold, when set, says why the job must not be registered now (a
	// rollout in flight, a quarantined spec): it is planned and reported
	// only.
	Hold string
	// Err explains why the file could not become a job. It names the file
	// and, for HCL errors, the line.
	Err error
	// SourceName names the source (--config) the file was read from; ""
	// when drover follows the one source given by flags.
	SourceName string
}

// Key identifies a job in a cluster.
type Key struct {
	Namespace string
	ID        string
}

func (k Key) String() string { return k.Namespace + "/" + k.ID }

// Key returns the job's key; only valid when f.Err is nil.
func (f *File) Key() Key {
	return Key{Namespace: deref(f.Job.Namespace), ID: deref(f.Job.ID)}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Copy is a deep copy of job, for a caller that changes a job: parsed jobs
// are shared between cycles and with what was sent to Nomad. It goes
// through JSON, which is rare next to a plan and cannot miss a field the
// api package adds.
func Copy(job *api.Job) (*api.Job, error) {
	raw, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("copy job: %w", err)
	}
	var c api.Job
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("copy job: %w", err)
	}
	return &c, nil
}
