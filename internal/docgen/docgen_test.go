package docgen

import (
	"reflect"
	"testing"
)

func TestCell_EscapesMarkupOutsideCodeSpans(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Cron, e.g. \"*/5 * * * *\"", `Cron, e.g. "\*/5 \* \* \* \*"`},
		{"prefix <state-prefix>suspend", "prefix &lt;state-prefix&gt;suspend"},
		{"each `name` or `ns/my_job`", "each `name` or `ns/my_job`"},
		{"a | b\nnext line", `a \| b next line`},
		{"one ` backtick and a_b", "one \\` backtick and a\\_b"},
	} {
		if got := cell(tc.in); got != tc.want {
			t.Errorf("cell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDisplayPath_ReadsServeMuxPatterns(t *testing.T) {
	for in, want := range map[string]string{
		"/{$}":                        "/",
		"/jobs/{namespace}/{name...}": "/jobs/<namespace>/<name>",
		"/v1/status":                  "/v1/status",
	} {
		if got := displayPath(in); got != want {
			t.Errorf("displayPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCommentTable_JoinsContinuationLines(t *testing.T) {
	doc := "Handler serves:\n\n\tGET  /healthz   200 when fine,\n\t                else 503\n\tPOST /v1/sync   start a cycle\n\nThe GET endpoints are open.\n"
	want := map[string]string{"GET /healthz": "200 when fine, else 503", "POST /v1/sync": "start a cycle"}
	if got := commentTable(doc); !reflect.DeepEqual(got, want) {
		t.Errorf("commentTable = %q, want %q", got, want)
	}
}

func TestInherited_TakesTheLongestDocumentedDirectory(t *testing.T) {
	docs := map[string]string{"GET /": "the page", "GET /debug/pprof/": "profiles"}
	if got := inherited(docs, "GET", "/debug/pprof/heap"); got != "profiles" {
		t.Errorf("inherited = %q, want the /debug/pprof/ description", got)
	}
	if got := inherited(docs, "GET", "/jobs/x"); got != "" {
		t.Errorf("inherited = %q: the root route's description must not spread to every path", got)
	}
}
