#!/bin/sh
# Cross-builds static drover binaries (CGO_ENABLED=0) with the version
# stamped, writes their SHA256SUMS, then checks what can be checked here:
# the checksums match, and each binary built for this machine's platform
# prints the stamped version and is a static, cgo-free build.
#
#   scripts/release.sh DIST VERSION OS/ARCH...
#
# make release runs it for every platform into dist/; make test runs it
# for this machine's platform only, into a temporary directory (the same
# script, one build instead of three).
set -eu

[ $# -ge 3 ] || { echo "usage: $0 DIST VERSION OS/ARCH..." >&2; exit 2; }
dist=$1 version=$2
shift 2
GO=${GO:-go}

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

mkdir -p "$dist"
rm -f "$dist"/drover-* "$dist/SHA256SUMS"
for platform in "$@"; do
	os=${platform%/*} arch=${platform#*/}
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch $GO build -trimpath \
		-ldflags "-s -w -X main.version=$version" \
		-o "$dist/drover-$version-$os-$arch" ./cmd/drover
done
(cd "$dist" && sha256 drover-* >SHA256SUMS)

# The checks.
(cd "$dist" && sha256 -c SHA256SUMS >/dev/null) || { echo "release: SHA256SUMS does not match the binaries in $dist" >&2; exit 1; }
here="$($GO env GOOS)-$($GO env GOARCH)"
for bin in "$dist"/drover-*; do
	case $bin in *-"$here") ;; *) continue ;; esac
	got=$("$bin" --version)
	if [ "$got" != "drover $version" ]; then
		echo "release: $bin --version printed \"$got\", want \"drover $version\"" >&2
		exit 1
	fi
	if ! $GO version -m "$bin" | grep -q 'CGO_ENABLED=0'; then
		echo "release: $bin was not built with CGO_ENABLED=0" >&2
		exit 1
	fi
	echo "release: $(basename "$bin") prints \"$got\", static"
done
echo "release: $(wc -l <"$dist/SHA256SUMS" | tr -d ' ') binaries in $dist, SHA256SUMS matches"
