package nomad

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/hashicorp/nomad/api"
)

// EventBatch is one frame of Nomad's event stream: the events of one
// index, decoded into only what drover's watches read. Err is set on the
// last batch of a stream that failed.
type EventBatch struct {
	Index  uint64
	Events []Event
	Err    error
}

// Event is one event of a batch. The field of its topic is set, or none
// when the payload did not decode (one odd event does not end a stream).
type Event struct {
	Topic api.Topic
	Type  string
	Key   string
	Index uint64

	Allocation *AllocEvent
	Deployment *api.Deployment
	Job        *JobEvent
	// Deleted is set by Nomad on a purged job's event.
	Deleted bool
}

// AllocEvent is an allocation event's allocation as far as a verdict reads
// it: the fields a list stub shares with the allocation (the event carries
// no job, so JobType and JobVersion stay empty), and its deployment.
type AllocEvent struct {
	api.AllocationListStub
	DeploymentID string
}

// JobEvent is what the cluster watch compares of a job event's job.
type JobEvent struct {
	ID, Namespace, Status string
	Stop                  bool
	JobModifyIndex        uint64
	Meta                  map[string]string
}

// Events streams the allocation and deployment events of the jobs named
// (by ID, in every namespace the token can read) from index on: Nomad's
// event stream filtered on the server by job ID, which both topics carry
// among their filter keys. It returns once Nomad has answered the
// request; the channel closes when ctx ends, after a batch with Err when
// the stream fails. Heartbeats are dropped.
//
// Nomad starts a stream whose index has left its event buffer (100
// batches by default) at the oldest batch it still has, without saying
// so: callers must not take a resumed stream for a complete one.
func (c *Client) Events(ctx context.Context, jobIDs []string, index uint64) (<-chan *EventBatch, error) {
	topics := make([]string, 0, 2*len(jobIDs))
	for _, id := range jobIDs {
		topics = append(topics, string(api.TopicAllocation)+":"+id, string(api.TopicDeployment)+":"+id)
	}
	ch, err := c.stream(ctx, topics, index)
	if err != nil {
		return nil, fmt.Errorf("stream events of %d jobs from index %d: %w", len(jobIDs), index, err)
	}
	return ch, nil
}

// JobEvents streams the Job topic of every namespace the token can read
// from index on; see Events for what a stream promises.
func (c *Client) JobEvents(ctx context.Context, index uint64) (<-chan *EventBatch, error) {
	ch, err := c.stream(ctx, []string{string(api.TopicJob) + ":*"}, index)
	if err != nil {
		return nil, fmt.Errorf("stream job events from index %d: %w", index, err)
	}
	return ch, nil
}

// stream subscribes to topics ("Topic:key") through the API client's own
// transport (address, TLS, token, region) and decodes the stream itself:
// the client's EventStream decodes every payload into generic maps of the
// whole object, which during a big deploy was most of the watches' CPU.
func (c *Client) stream(ctx context.Context, topics []string, index uint64) (<-chan *EventBatch, error) {
	params := url.Values{"topic": topics}
	q := (&api.QueryOptions{
		Namespace: api.AllNamespacesNamespace,
		Params:    map[string]string{"index": strconv.FormatUint(index, 10)},
	}).WithContext(ctx)
	body, err := c.api.Raw().Response("/v1/event/stream?"+params.Encode(), q)
	if err != nil {
		return nil, err
	}
	ch := make(chan *EventBatch, 10)
	go func() {
		defer close(ch)
		defer body.Close()
		readEvents(ctx, body, ch)
	}()
	return ch, nil
}

// readEvents sends the batches of r, one JSON object a line, until ctx
// ends or the stream fails, which it sends as a batch with Err.
func readEvents(ctx context.Context, r io.Reader, out chan<- *EventBatch) {
	dec := json.NewDecoder(r)
	for ctx.Err() == nil {
		var batch EventBatch
		var frame wireBatch
		if err := dec.Decode(&frame); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("stream closed by nomad")
			}
			batch.Err = fmt.Errorf("read event stream: %w", err)
		} else if frame.Index == 0 && len(frame.Events) == 0 {
			continue // a heartbeat: {}
		} else {
			batch.Index = frame.Index
			batch.Events = make([]Event, len(frame.Events))
			for i, e := range frame.Events {
				batch.Events[i] = Event{Topic: e.Topic, Type: e.Type, Key: e.Key, Index: e.Index,
					Allocation: e.Payload.Allocation, Deployment: e.Payload.Deployment, Job: e.Payload.Job, Deleted: e.Payload.Deleted}
			}
		}
		select {
		case <-ctx.Done():
			return
		case out <- &batch:
		}
		if batch.Err != nil {
			return
		}
	}
}

// wireBatch is a frame as Nomad sends it; fields drover does not read
// (FilterKeys, the rest of each object) are skipped by the decoder.
type wireBatch struct {
	Index  uint64
	Events []struct {
		Topic   api.Topic
		Type    string
		Key     string
		Index   uint64
		Payload wirePayload
	}
}

// wirePayload holds whichever object the event's topic carries.
type wirePayload struct {
	Allocation *AllocEvent
	Deployment *api.Deployment
	Job        *JobEvent
	Deleted    bool
}

// UnmarshalJSON decodes the payload alone, so a payload of an unexpected
// shape leaves its event empty instead of failing the stream.
func (p *wirePayload) UnmarshalJSON(b []byte) error {
	type plain wirePayload
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			*p = wirePayload{}
			return nil
		}
		return err
	}
	*p = wirePayload(v)
	return nil
}
