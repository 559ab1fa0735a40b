#!/usr/bin/env bash
# make test: run each fuzz target briefly. Plain `go test` already replays
# every seed in testdata/fuzz/ as a regression case; this explores beyond
# them for FUZZTIME (default 5s) per target, one target per invocation (go
# test -fuzz takes one at a time). A failing input is written under the
# package's testdata/fuzz/<target>/: commit it with the fix, so it stays a
# regression case. Exits non-zero on the first failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzztime=${FUZZTIME:-5s}
# One worker: the machine is shared, and 5s is a smoke run, not a campaign.
parallel=${FUZZ_PARALLEL:-1}

targets=(
	./agent:FuzzVerifyGitHubSignature
	./agent:FuzzGitHubPayload
	./agent:FuzzWebhook
	./jobs:FuzzVariablesResolve
	./sync:FuzzChanges
	./source:FuzzParseEndpoint
	./source:FuzzRedactor
	./source:FuzzResolveRef
)

for t in "${targets[@]}"; do
	pkg=${t%%:*}
	name=${t#*:}
	echo "==> $name ($pkg, $fuzztime)"
	go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -parallel="$parallel" "$pkg"
done
