package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover/events"
	"github.com/drover-dev/drover/internal/deliver"
	"github.com/rs/zerolog"
)

// Formats of a target.
const (
	FormatSlack       = "slack"
	FormatCloudEvents = "cloudevents"
)

// Target is where notifications go.
type Target struct {
	Format string
	// URL may hold a secret (a Slack webhook's path is its key): log
	// Redacted, never URL.
	URL string
}

// ParseTarget reads a --notify value: "slack:https://…" for a
// Slack-compatible incoming webhook, any other http(s) URL for CloudEvents.
func ParseTarget(s string) (Target, error) {
	t := Target{Format: FormatCloudEvents, URL: s}
	if rest, ok := strings.CutPrefix(s, "slack:"); ok {
		t = Target{Format: FormatSlack, URL: rest}
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Target{}, fmt.Errorf("--notify %s: want an http(s) URL, optionally prefixed with slack:", Target{URL: t.URL}.Redacted())
	}
	return t, nil
}

// Redacted is the target's scheme and host only: safe to log.
func (t Target) Redacted() string {
	u, err := url.Parse(t.URL)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// Body is the request m becomes for this target.
func (t Target) Body(m Message, source, id string) (contentType string, body []byte, err error) {
	if t.Format == FormatSlack {
		body, err = json.Marshal(ToSlack(m))
		return "application/json", body, err
	}
	body, err = json.Marshal(ToCloudEvent(m, source, id))
	return "application/cloudevents+json", body, err
}

// Options configure a Notifier.
type Options struct {
	// Source is the CloudEvents source, e.g. drover/<instance>.
	Source string
	// Queue tunes each target's queue; its Done is set by the Notifier.
	Queue deliver.Options
	// Count is told each message's result per target: sent, failed or
	// dropped.
	Count  func(result string)
	Logger zerolog.Logger
	// Emitter writes notify.failed and notify.dropped to the log and the
	// bus (default: to Logger only).
	Emitter *events.Emitter
	Client  *http.Client
}

// Notifier posts messages to every target, each from its own queue, so
// one slow receiver does not hold up another.
type Notifier struct {
	targets []Target
	queues  []*deliver.Queue
	opts    Options
	seq     atomic.Uint64
	start   int64
}

// New starts a Notifier whose queues run until ctx ends.
func New(ctx context.Context, targets []Target, o Options) *Notifier {
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	if o.Emitter == nil {
		o.Emitter = events.NewEmitter(o.Logger, nil)
	}
	n := &Notifier{targets: targets, opts: o, start: time.Now().UnixNano()}
	for _, t := range targets {
		qo := o.Queue
		target, format := t.Redacted(), t.Format
		qo.Done = func(it deliver.Item, result string, err error) {
			// Counted after it is logged: whoever sees the count finds the
			// line.
			defer o.Count(result)
			switch result {
			case deliver.Failed:
				o.Emitter.Emit(events.NotifyFailed{Target: target, Format: format, Notification: it.Name, Error: err.Error()},
					"notification not delivered; given up")
			case deliver.Dropped:
				o.Emitter.Emit(events.NotifyDropped{Target: target, Format: format, Notification: it.Name},
					"notification dropped: queue full or shutting down")
			}
		}
		n.queues = append(n.queues, deliver.Start(ctx, qo))
	}
	return n
}

// Send queues m for every target and returns at once.
func (n *Notifier) Send(m Message) {
	if n == nil {
		return
	}
	// Unique per source: the process start and a sequence number.
	id := fmt.Sprintf("%x-%d", n.start, n.seq.Add(1))
	for i, t := range n.targets {
		n.queues[i].Push(deliver.Item{Name: m.Type + " " + m.Job, Do: func(ctx context.Context) error {
			return n.post(ctx, t, m, id)
		}})
	}
}

func (n *Notifier) post(ctx context.Context, t Target, m Message, id string) error {
	ct, body, err := t.Body(m, n.opts.Source, id)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify %s: build request", t.Redacted())
	}
	req.Header.Set("Content-Type", ct)
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		// net/http's errors quote the whole URL: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("notify %s: %w", t.Redacted(), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("notify %s: %s", t.Redacted(), resp.Status)
	}
	return nil
}
