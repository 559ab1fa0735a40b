package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/drover-dev/drover/jobs"
)

// ErrInvalid marks a state key that cannot be read: not JSON, or holding
// another job's state. drover holds the job the key's path names until an
// operator fixes or deletes the key, and never writes over it.
var ErrInvalid = errors.New("invalid state key")

// Problem is a key under the ledger's prefix that is not usable state.
type Problem struct {
	Key string
	// Job is the job the key's path names, which drover holds; nil for a
	// key whose path names no job (nothing is held for it).
	Job *jobs.Key
	Err error
}

// jobsPrefix is where job states live, one key each.
func (l *Ledger) jobsPrefix() string { return l.prefix + "jobs/" }

// key is where a job's state lives. Job IDs may hold "/", so both parts
// are escaped; the path, not the content, says which job a key is for.
func (l *Ledger) key(k jobs.Key) string {
	return l.jobsPrefix() + url.PathEscape(k.Namespace) + "/" + url.PathEscape(k.ID)
}

// jobOf decodes a stored key's path into the job it is for. folder is true
// for the empty "folder" keys the Consul UI creates, which are not state.
func (l *Ledger) jobOf(key string) (k jobs.Key, folder bool, err error) {
	if strings.HasSuffix(key, "/") {
		return jobs.Key{}, true, nil
	}
	want := fmt.Sprintf("drover keeps job state at %s<namespace>/<job>, each part URL-path-escaped", l.jobsPrefix())
	parts := strings.Split(strings.TrimPrefix(key, l.jobsPrefix()), "/")
	if len(parts) != 2 {
		return jobs.Key{}, false, fmt.Errorf("state key %s names no job: %s", key, want)
	}
	ns, err1 := url.PathUnescape(parts[0])
	id, err2 := url.PathUnescape(parts[1])
	if err := errors.Join(err1, err2); err != nil || ns == "" || id == "" {
		return jobs.Key{}, false, fmt.Errorf("state key %s names no job: %s", key, want)
	}
	k = jobs.Key{Namespace: ns, ID: id}
	// Two spellings of one job would be two states for it, one picked at
	// random: only the one drover writes counts.
	if canon := l.key(k); canon != key {
		return jobs.Key{}, false, fmt.Errorf("state key %s is not where drover keeps job %s's state (%s); it is ignored: delete it", key, k, canon)
	}
	return k, false, nil
}

// decode reads the state stored for job k at key.
func decode(key string, k jobs.Key, value []byte) (*Job, error) {
	var j Job
	if err := json.Unmarshal(value, &j); err != nil {
		return nil, fmt.Errorf("%w %s: not valid JSON (job %s is held; fix the key, or delete it to start that job's state afresh): %v", ErrInvalid, key, k, err)
	}
	if j.ID == "" {
		return nil, fmt.Errorf("%w %s: names no job (job %s is held; fix the key, or delete it to start that job's state afresh)", ErrInvalid, key, k)
	}
	if j.Key() != k {
		return nil, fmt.Errorf("%w %s: holds job %s, not %s (job %s is held; delete the key or put %s's state in it)", ErrInvalid, key, j.Key(), k, k, k)
	}
	return &j, nil
}
