package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionOf_StampWinsThenTheModuleVersion(t *testing.T) {
	info := func(v string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Path: "github.com/drover-dev/drover", Version: v}}, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		name, stamped string
		info          func() (*debug.BuildInfo, bool)
		want          string
	}{
		{"stamped by make or the Dockerfile", "v0.9.0-3-gabc", info("v1.0.0"), "v0.9.0-3-gabc"},
		{"go install …@v1.2.0", "", info("v1.2.0"), "v1.2.0"},
		{"go build in a git checkout", "", info("v0.0.0-20261204004500-bdd3b4e5f1a2+dirty"), "v0.0.0-20261204004500-bdd3b4e5f1a2+dirty"},
		{"go build without VCS information", "", info("(devel)"), "dev"},
		{"no build information", "", none, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionOf(tc.stamped, tc.info); got != tc.want {
				t.Errorf("versionOf(%q) = %q, want %q", tc.stamped, got, tc.want)
			}
		})
	}
}
