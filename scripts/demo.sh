#!/usr/bin/env bash
# make demo: start local Nomad + Consul dev agents, make a git repo from
# examples/jobs, and run a drover agent that follows it. Ctrl-C stops the
# agent and the dev agents this script started (and nothing else).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/.bin
demo=$root/.demo
rm -rf "$demo"
mkdir -p "$demo"

echo "==> starting Nomad and Consul dev agents (logs in $demo/cluster)"
"$bin/devcluster" -dir "$demo/cluster" >"$demo/devcluster.log" 2>&1 &
cluster_pid=$!
cleanup() {
	kill "$cluster_pid" 2>/dev/null || true
	wait "$cluster_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 120); do
	[ -s "$demo/cluster/env" ] && break
	kill -0 "$cluster_pid" 2>/dev/null || { cat "$demo/devcluster.log"; exit 1; }
	sleep 1
done
[ -s "$demo/cluster/env" ] || { echo "dev agents did not start; see $demo/devcluster.log"; exit 1; }
# shellcheck disable=SC1091
. "$demo/cluster/env"

echo "==> making a git repo of job files in $demo/repo"
git init -q -b main "$demo/repo"
cp "$root"/examples/jobs/*.nomad.hcl "$demo/repo/"
git -C "$demo/repo" add -A
git -C "$demo/repo" -c user.name=demo -c user.email=demo@example.com commit -qm "hello 1.0.0"

cat <<MSG

drover is about to follow $demo/repo (branch main), syncing every 15s, and
watching every rollout (healthy for 5s, then a 10s bake; 30s deadline).
Web page (live: jobs, rollouts, rollbacks, events): http://127.0.0.1:8680/

In another terminal:

  . $demo/cluster/env
  curl -s localhost:8680/v1/status | head -40        # what drover knows
  cd $demo/repo
  sed -i 's/"1.0.0"/"1.0.1"/' hello.nomad.hcl
  git commit -qam "hello 1.0.1"
  curl -s -XPOST localhost:8680/v1/sync              # or wait for the interval
                                                     # -> job.update, job.applied
                                                     # -> rollout.started, rollout.baking,
                                                     #    rollout.healthy: 1.0.1 is last good
  $bin/nomad job scale -detach hello web 2           # a hand edit
                                                     # -> job.drift, then restored
  sed -i 's/var.version]/var.version, "-unhealthy"]/' hello.nomad.hcl
  git commit -qam "hello: broken /health"            # a bad deploy: /health answers 500
  curl -s -XPOST localhost:8680/v1/sync              # -> rollout.started; 30s later rollout.failed
                                                     #    (the failing check and its output),
                                                     #    job.quarantined, rollback.applied:
                                                     #    the job runs 1.0.1 again
  curl -s localhost:8680/v1/status | grep -A12 '"rollouts"'   # "state": "rolled_back"
  git revert --no-edit HEAD                          # the fix: back to a healthy spec
  git rm -q hello.nomad.hcl && git commit -qm gone   # -> job.orphan (add --prune to stop it)

Nomad UI: \$NOMAD_ADDR/ui   Consul UI: http://\$CONSUL_HTTP_ADDR/ui
Ctrl-C stops drover and the dev agents.

MSG

args=(agent
	--repo "$demo/repo"
	--var "hello_bin=$bin/hello"
	--interval 15s
	--health-min-healthy 5s
	--bake 10s
	--health-deadline 30s
	--leader-ttl 10s
	--log-format console)

replicas=${REPLICAS:-1}
pids=()
for i in $(seq 2 "$replicas"); do
	port=$((8680 + i - 1))
	echo "==> replica $i on 127.0.0.1:$port (log in $demo/replica-$i.log)"
	NOMAD_ALLOC_ID="replica-$i" "$bin/drover" "${args[@]}" --listen "127.0.0.1:$port" \
		--data-dir "$demo/data-$i" >"$demo/replica-$i.log" 2>&1 &
	pids+=($!)
done
if [ "$replicas" -gt 1 ]; then
	cat <<MSG
$replicas replicas of one instance: one leads, the others stand by.
  curl -s localhost:8680/healthz; curl -s localhost:8681/healthz   # one says "standby, leader is …"
  curl -s localhost:8681/v1/status | grep -A8 '"ha"'  # the leader's view, served by a standby
  kill -9 <pid of the leader>                         # a standby takes over within ~25s:
  tail -f $demo/replica-2.log                         #   leader.acquired, rollout.resumed
                                                      # (replica 1 logs here; the others in $demo/replica-N.log)
Ctrl-C (or stopping the leader) makes it resign: a standby takes over at once.

MSG
	cleanup() {
		for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
		wait "${pids[@]}" 2>/dev/null || true
		kill "$cluster_pid" 2>/dev/null || true
		wait "$cluster_pid" 2>/dev/null || true
	}
fi

NOMAD_ALLOC_ID="replica-1" "$bin/drover" "${args[@]}" --data-dir "$demo/data"
