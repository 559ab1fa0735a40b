#!/usr/bin/env bash
# make test: run each fuzz target briefly. Plain `go test` already replays
# every seed in testdata/fuzz/ as a regression case; this explores beyond
# them for FUZZTIME per target, one target per invocation (go
# test -fuzz takes one at a time). A failing input is written under the
# package's testdata/fuzz/<target>/: commit it with the fix, so it stays a
# regression case. Exits non-zero on the first failure.
#
# The budget is a count of executions (FUZZTIME, default 10000x: a few
# seconds per target here), not a duration: with a duration, Go 1.26's fuzz
# coordinator can report its own -fuzztime deadline as a failure of the
# target ("context deadline exceeded", no input written) when a worker is
# mid-call as the time runs out on a loaded machine (go.dev/issue/75804,
# fixed in Go 1.27). A count has no deadline to race. FUZZTIME=30s still
# works for a longer local campaign.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzztime=${FUZZTIME:-10000x}
# One worker: the machine is shared, and this is a smoke run, not a campaign.
parallel=${FUZZ_PARALLEL:-1}

# Every fuzz target in the tree, found rather than listed, so a renamed
# package or a new target cannot be missed: "./pkg:FuzzName" per line.
mapfile -t targets < <(git grep -o --untracked '^func Fuzz[A-Za-z0-9_]*' -- '*_test.go' |
	sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)$#./\1:\2#' | sort -u)
if [ "${#targets[@]}" -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

for t in "${targets[@]}"; do
	pkg=${t%%:*}
	name=${t#*:}
	echo "==> $name ($pkg, $fuzztime)"
	go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -parallel="$parallel" "$pkg"
done
