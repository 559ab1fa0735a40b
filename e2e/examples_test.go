package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// TestExamples_ParseWithTheClustersOwnParser: the job files the README
// points people at are valid for the Nomad drover is tested against.
func TestExamples_ParseWithTheClustersOwnParser(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../examples/*/*.nomad.hcl")
	if err != nil {
		t.Fatal(err)
	}
	top, err := filepath.Glob("../examples/*.nomad.hcl")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, top...)
	if len(files) < 3 {
		t.Fatalf("found only %q under examples/", files)
	}
	// Values for the variables the examples declare without a default;
	// Nomad refuses a value for a variable a file does not declare.
	values := map[string]string{"repo": "https://example.invalid/jobs.git", "hello_bin": "/usr/local/bin/hello", "image": "example.invalid/hello:1.0.0"}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		vars := ""
		for name, v := range values {
			if strings.Contains(string(src), fmt.Sprintf("variable %q", name)) {
				vars += fmt.Sprintf("%s = %q\n", name, v)
			}
		}
		job, err := env.cluster.Nomad().Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: string(src), Variables: vars})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if job.ID == nil || *job.ID == "" {
			t.Errorf("%s: parsed to a job without an ID", f)
		}
	}
}
