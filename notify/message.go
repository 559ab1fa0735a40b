// Package notify tells people what drover did: a Message is rendered as a
// Slack-compatible incoming-webhook payload (Slack, Mattermost,
// Rocket.Chat) or as a CloudEvents 1.0 structured-mode JSON event, and
// posted from a bounded queue that never holds drover up.
package notify

import (
	"fmt"
	"strings"
	"time"
)

// Message is one notification.
type Message struct {
	// Type is the drover event it reports, e.g. rollout.failed.
	Type string `json:"event"`
	// Title says what happened, in a few words.
	Title     string `json:"title"`
	Instance  string `json:"instance"`
	Job       string `json:"job,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Commit    string `json:"commit,omitempty"`
	// CommitURL is the commit's web page, when the repository is on
	// GitHub or GitLab.
	CommitURL string `json:"commit_url,omitempty"`
	// Why is the reason: the failing check and its output, the error.
	Why string `json:"why,omitempty"`
	// RolledBackTo is the commit drover put the job back on.
	RolledBackTo string `json:"rolled_back_to,omitempty"`
	// Action is what drover did about it.
	Action string    `json:"action,omitempty"`
	Time   time.Time `json:"time"`
	// Severity is info, warning or error.
	Severity string `json:"severity"`
}

// shortSHA is the first 8 characters of a commit.
func shortSHA(c string) string {
	if len(c) > 8 {
		return c[:8]
	}
	return c
}

// Text is the message as a few lines of Slack mrkdwn.
func (m Message) Text() string {
	var b strings.Builder
	icon := map[string]string{"error": ":red_circle:", "warning": ":warning:"}[m.Severity]
	if icon == "" {
		icon = ":information_source:"
	}
	fmt.Fprintf(&b, "%s *%s*", icon, slackEscape(m.Title))
	if m.Job != "" {
		job := m.Job
		if m.Namespace != "" && m.Namespace != "default" {
			job = m.Namespace + "/" + job
		}
		fmt.Fprintf(&b, " · job `%s`", slackEscape(job))
	}
	if m.Commit != "" {
		c := "`" + shortSHA(m.Commit) + "`"
		if m.CommitURL != "" {
			c = "<" + m.CommitURL + "|" + shortSHA(m.Commit) + ">"
		}
		fmt.Fprintf(&b, " · commit %s", c)
	}
	fmt.Fprintf(&b, " · drover `%s`", slackEscape(m.Instance))
	if m.Why != "" {
		fmt.Fprintf(&b, "\n*Why:* %s", slackEscape(m.Why))
	}
	if m.Action != "" {
		fmt.Fprintf(&b, "\n*Done:* %s", slackEscape(m.Action))
	}
	return b.String()
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Slack is the payload of an incoming webhook.
type Slack struct {
	// Text is the fallback (notifications, Mattermost, Rocket.Chat).
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks,omitempty"`
}

// SlackBlock is a Block Kit section.
type SlackBlock struct {
	Type string     `json:"type"`
	Text *SlackText `json:"text,omitempty"`
}

// SlackText is a Block Kit text object.
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// ToSlack renders m for a Slack-compatible incoming webhook.
func ToSlack(m Message) Slack {
	text := m.Text()
	return Slack{Text: text, Blocks: []SlackBlock{{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: text}}}}
}

// CloudEvent is a CloudEvents 1.0 event in structured JSON mode.
type CloudEvent struct {
	SpecVersion     string  `json:"specversion"`
	ID              string  `json:"id"`
	Source          string  `json:"source"`
	Type            string  `json:"type"`
	Subject         string  `json:"subject,omitempty"`
	Time            string  `json:"time"`
	DataContentType string  `json:"datacontenttype"`
	Data            Message `json:"data"`
}

// CloudEventType prefixes drover's event names: dev.drover.rollout.failed.
const CloudEventType = "dev.drover."

// ToCloudEvent renders m as a CloudEvent; source names the drover
// (drover/<instance>), id is unique per source.
func ToCloudEvent(m Message, source, id string) CloudEvent {
	subject := ""
	if m.Job != "" {
		ns := m.Namespace
		if ns == "" {
			ns = "default"
		}
		subject = "jobs/" + ns + "/" + m.Job
	}
	return CloudEvent{
		SpecVersion: "1.0", ID: id, Source: source, Type: CloudEventType + m.Type, Subject: subject,
		Time: m.Time.UTC().Format(time.RFC3339Nano), DataContentType: "application/json", Data: m,
	}
}
