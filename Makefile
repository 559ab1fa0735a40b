# drover's developer entry points. `make demo` and `make test` work on a
# fresh machine with Go, git and make: the Nomad and Consul agents the tests
# and the demo run against are built from the Go module proxy into .bin/.

GO       ?= go
BIN      := $(CURDIR)/.bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
export DROVER_NOMAD_BIN  := $(BIN)/nomad
export DROVER_CONSUL_BIN := $(BIN)/consul

.PHONY: all build tools browser test unit e2e fuzz vet fmt-check bench demo clean docs release release-check install-check

all: build

build: $(BIN)/drover

$(BIN)/drover: FORCE
	$(GO) build -ldflags "$(LDFLAGS)" -o $@ ./cmd/drover

$(BIN)/hello: FORCE
	$(GO) build -o $@ ./examples/hello

$(BIN)/devcluster: FORCE
	$(GO) build -o $@ ./internal/testcluster/cmd/devcluster

FORCE:

## tools: the Nomad and Consul agents, built once (about 10 minutes cold on
## 2 cores) and rebuilt only when their pinned versions change.
tools: $(BIN)/nomad $(BIN)/consul

$(BIN)/nomad: tools/nomad/go.mod tools/nomad/go.sum
	cd tools/nomad && CGO_ENABLED=0 $(GO) build -mod=mod -o $@ github.com/hashicorp/nomad
	@touch $@

$(BIN)/consul: tools/consul/go.mod tools/consul/go.sum
	cd tools/consul && CGO_ENABLED=0 $(GO) build -mod=mod -o $@ github.com/hashicorp/consul
	@touch $@

## browser: Debian's chromium, which the web page's e2e tests drive;
## installed with apt-get when missing and running as root. The tests fail
## without it (DROVER_CHROMIUM may name another Chromium binary).
browser:
	@if [ -n "$$DROVER_CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "chromium is missing: install it (sudo apt-get install -y chromium) or set DROVER_CHROMIUM" >&2; exit 1; \
	fi

## test: formatting, vet, unit tests and the end-to-end tests against real
## Nomad and Consul dev agents, all with the race detector, then each fuzz
## target briefly. The e2e scenarios share one cluster and run in parallel
## (-parallel 8: most of their time is waiting on Nomad and Consul).
test: tools browser fmt-check vet
	$(GO) test -race -count=1 -parallel 8 -timeout 40m ./...
	./scripts/fuzz.sh
	$(MAKE) release-check install-check

## unit: the packages that need no Nomad or Consul agent.
unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e /e2e -e /internal/testcluster -e /leader)

e2e: tools browser
	$(GO) test -race -count=1 -parallel 8 -timeout 40m -v ./e2e/...

## fuzz: each go test -fuzz target for FUZZTIME (10000x: a count of
## executions, see scripts/fuzz.sh for why not a duration) from its
## checked-in corpus.
fuzz:
	./scripts/fuzz.sh

## bench: cold sync, quiet cycles, reaction latencies and peak RSS of
## drover against a real Nomad dev agent with N mock-driver jobs
## (BENCH_N=100,1000 by default); then cold sync of the largest N against
## the register floor at --parallel 4, 8 and 16; then a deploy of N jobs
## through a running agent until every rollout is healthy; then
## BENCH_N_IDLE (10000) jobs with count = 0 on one dev node advertising room
## for them: cold sync against the floor, an agent's quiet cycles, peak RSS
## (about 5 minutes). BENCH_N_LARGE=10000 adds the same with every
## allocation placed (off by default: over an hour on 2 cores, see README).
## About 30 minutes in all on 2 cores. Prints markdown tables. Not part of
## `make test`: its numbers are the machine's.
BENCH_N_IDLE ?= 10000
BENCH_N_LARGE ?= 0
bench: tools $(BIN)/drover
	$(GO) run ./bench -drover $(BIN)/drover -nomad $(BIN)/nomad
	$(GO) run ./bench -drover $(BIN)/drover -nomad $(BIN)/nomad -parallel 4,8,16
	$(GO) run ./bench -drover $(BIN)/drover -nomad $(BIN)/nomad -deploy
	BENCH_N_LARGE=$(BENCH_N_IDLE) $(GO) run ./bench -drover $(BIN)/drover -nomad $(BIN)/nomad -large -large-idle
	if [ "$(BENCH_N_LARGE)" != 0 ]; then BENCH_N_LARGE=$(BENCH_N_LARGE) $(GO) run ./bench -drover $(BIN)/drover -nomad $(BIN)/nomad -large; fi

## docs: docs/reference/*.md, generated from the flag sets, the metrics
## registry, the HTTP routes and the job meta keys (internal/docgen).
## TestReference_DocsAreCurrent, part of make test, fails while a page is
## stale.
docs:
	$(GO) test -count=1 -run '^TestReference_DocsAreCurrent$$' ./cmd/drover -args -update-docs

## release: static binaries for linux/amd64, linux/arm64 and darwin/arm64
## in dist/, with VERSION stamped, and dist/SHA256SUMS; the binary for this
## machine is run to check its --version.
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/arm64
release:
	GO=$(GO) ./scripts/release.sh dist $(VERSION) $(RELEASE_PLATFORMS)

## release-check: the same script for this machine's platform only, into a
## temporary directory (part of make test: one build, not three).
release-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		GO=$(GO) ./scripts/release.sh "$$tmp" v0.0.0-release-check $$($(GO) env GOOS)/$$($(GO) env GOARCH)

## install-check: go install …/cmd/drover@VERSION from a file-system module
## proxy serving this checkout works and prints VERSION (part of make test).
install-check:
	GO=$(GO) ./scripts/install-check.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## demo: a local Nomad + Consul, a git repo made from examples/, and a
## drover agent following it (REPLICAS=2 or 3: that many replicas of one
## instance, to watch a failover). Ctrl-C stops everything it started.
REPLICAS ?= 1
demo: tools $(BIN)/drover $(BIN)/hello $(BIN)/devcluster
	REPLICAS=$(REPLICAS) ./scripts/demo.sh

clean:
	rm -rf $(BIN)/drover $(BIN)/hello .demo dist
