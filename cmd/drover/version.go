package main

import "runtime/debug"

// version is stamped at build time with -ldflags "-X main.version=…"
// (make build, make release, the Dockerfile). Read it through
// buildVersion, which falls back to what the Go toolchain recorded.
var version string

// buildVersion is the version drover reports: --version, the metrics'
// drover_build_info and the agent's status.
func buildVersion() string { return versionOf(version, debug.ReadBuildInfo) }

// versionOf is the stamped version, else the module version the toolchain
// recorded in the binary: `go install …/cmd/drover@v1.2.0` records v1.2.0,
// a build in a git checkout a pseudo-version naming the commit. A build
// with neither (go run, a test binary) is "dev".
func versionOf(stamped string, buildInfo func() (*debug.BuildInfo, bool)) string {
	if stamped != "" {
		return stamped
	}
	if info, ok := buildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}
