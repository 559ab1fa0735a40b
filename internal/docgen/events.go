package docgen

import (
	"fmt"
	"strings"

	"github.com/drover-dev/drover/events"
)

// renderEvents lists every typed event from events.Registry: the same
// list the emitter logs and publishes, so a new event type is documented
// the moment it exists (its doc and field tags are required by the events
// package's own tests).
func renderEvents(Inputs) ([]byte, error) {
	b := newPage("Events",
		"Every event drover logs (zerolog JSON lines on stderr, `--log-format console` for people) and publishes on "+
			"`GET /v1/events`, the web page's live feed, commit statuses and notifications. "+
			"A line has `event`, `level`, `time` and `message`, then the fields below in this order. "+
			"Events about a job carry `job`, `namespace`, `path`, `commit`, `version` and, with `--config`, `source`. "+
			"Optional fields are left out when empty. Events are published whatever `--log-level` is; "+
			"debug events are logged at debug level but not kept for `/v1/events`.")
	b.WriteString("\n| event | level | fields | meaning |\n|---|---|---|---|\n")
	for _, t := range events.Registry() {
		if t.Name == "" || t.Doc == "" {
			return nil, fmt.Errorf("event type %T has no name or doc", t.Example)
		}
		fields := make([]string, 0, len(t.Fields))
		for _, f := range t.Fields {
			s := code(f.Name) + " (" + f.Type
			if f.Optional {
				s += ", optional"
			}
			s += ")"
			if f.Doc != "" {
				s += ": " + cell(f.Doc)
			}
			fields = append(fields, s)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", code(t.Name), t.Level, strings.Join(fields, "<br>"), cell(t.Doc))
	}
	return b.Bytes(), nil
}
