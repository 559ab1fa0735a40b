#!/bin/sh
# Checks that `go install github.com/drover-dev/drover/cmd/drover@VERSION`
# works and prints VERSION: serves this checkout (its tracked files, with
# uncommitted changes) as that version from a file-system module proxy, the
# way proxy.golang.org would serve a tag, and installs from it. It catches
# what only a module zip refuses (a file named like a Windows device, "nul";
# a path no zip may hold) and a --version that ignores the module version.
# Dependencies come from the module cache, else the usual GOPROXY.
set -eu
GO=${GO:-go}
module=github.com/drover-dev/drover
version=v0.0.0-install-check.$(date +%s)
tmp=$(mktemp -d)
modcache=$($GO env GOMODCACHE)
cleanup() {
	# Only what this check put in the module cache (read-only files).
	chmod -R u+w "$modcache/$module@$version" 2>/dev/null || true
	rm -rf "$modcache/$module@$version" "$modcache/cache/download/$module/@v/$version".* "$modcache/cache/download/$module/@v/list" "$tmp"
}
trap cleanup EXIT

proxy="$tmp/proxy/$module/@v"
mkdir -p "$proxy"
tree=$(git stash create)
[ -n "$tree" ] || tree=HEAD
# The nested modules under tools/ are not part of this one: the proxy
# leaves them out of its zip too.
git archive --format=zip --prefix="$module@$version/" -o "$proxy/$version.zip" "$tree" -- . ':(exclude)tools'
cp go.mod "$proxy/$version.mod"
printf '{"Version":"%s","Time":"%s"}\n' "$version" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$proxy/$version.info"
echo "$version" >"$proxy/list"

GOPROXY="file://$tmp/proxy,$($GO env GOPROXY)" GONOSUMDB=$module GOFLAGS=-mod=mod GOBIN="$tmp/bin" \
	$GO install "$module/cmd/drover@$version"
got=$("$tmp/bin/drover" --version)
if [ "$got" != "drover $version" ]; then
	echo "install-check: go install …@$version printed \"$got\", want \"drover $version\"" >&2
	exit 1
fi
echo "install-check: go install $module/cmd/drover@$version prints \"$got\""
