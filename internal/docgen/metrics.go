package docgen

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/drover-dev/drover/metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// renderMetrics reads the metrics off a registry built as the agent
// builds it. Labels whose series exist from start-up list their values
// (the closed set each recording method maps to); the others are
// exercised once through the public API so their type and labels show.
func renderMetrics(Inputs) ([]byte, error) {
	m := metrics.New("docs")
	metrics.NewNotifications(m)
	reg := m.Registry()
	atStart, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	values := labelValues(atStart)

	// Series that appear only with their first event.
	rt := m.NomadTransport(roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(""))}, nil
	}))
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:4646/v1/jobs", nil)
	if resp, err := rt.RoundTrip(req); err == nil {
		resp.Body.Close()
	}
	m.SourceStates("docs", true, nil)

	families, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	constLabels := constLabelNames(reg)
	seen := map[string]bool{}
	b := newPage("Metrics",
		"What `GET /metrics` serves, read from drover's own registry (`metrics.New`), besides the standard `go_*` and `process_*` metrics. "+
			"Where values are listed, the series exist from start-up at 0, so `rate()` and alerts work before the first event; "+
			"a value outside a label's set is counted under a fallback (`error`, `unknown`, `other`), never as a new series. "+
			"The other labels' series appear with their first event.")
	b.WriteString("\n| metric | type | labels | meaning |\n|---|---|---|---|\n")
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, "drover_") {
			continue
		}
		seen[name] = true
		var labels []string
		for _, lp := range f.GetMetric()[0].GetLabel() {
			l := lp.GetName()
			switch {
			case constLabels[name][l]:
				labels = append(labels, code(l))
			case len(values[name][l]) > 0:
				labels = append(labels, code(l)+" = "+codeList(values[name][l]))
			default:
				labels = append(labels, code(l))
			}
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", name, strings.ToLower(f.GetType().String()), strings.Join(labels, "; "), cell(f.GetHelp()))
	}
	for name := range constLabels {
		if !seen[name] {
			return nil, fmt.Errorf("metric %s has no series even after internal/docgen records one of each kind: record one in renderMetrics", name)
		}
	}
	return b.Bytes(), nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// labelValues is, per metric and label, the values its series have.
func labelValues(families []*dto.MetricFamily) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	for _, f := range families {
		vals := map[string][]string{}
		seen := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if k := lp.GetName() + "=" + lp.GetValue(); !seen[k] {
					seen[k] = true
					vals[lp.GetName()] = append(vals[lp.GetName()], lp.GetValue())
				}
			}
		}
		out[f.GetName()] = vals
	}
	return out
}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)".*constLabels: \{([^}]*)\}`)

// constLabelNames is, for every drover_ metric the registry describes
// (whether or not it has a series), the names of its constant labels,
// whose values are the build's and not worth listing.
func constLabelNames(reg *prometheus.Registry) map[string]map[string]bool {
	ch := make(chan *prometheus.Desc)
	go func() {
		reg.Describe(ch)
		close(ch)
	}()
	out := map[string]map[string]bool{}
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil || !strings.HasPrefix(m[1], "drover_") {
			continue
		}
		names := map[string]bool{}
		for _, pair := range strings.Split(m[2], ",") {
			if k, _, ok := strings.Cut(pair, "="); ok {
				names[k] = true
			}
		}
		out[m[1]] = names
	}
	return out
}

func codeList(vs []string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = code(v)
	}
	return strings.Join(out, ", ")
}
