#!/usr/bin/env bash
# RaftActors' key-value server beside etcd, on this machine, with the same client: three members
# of each on loopback, `raftctl bench` against both with identical parameters, and a table of the
# ratios. Usage: scripts/compare-etcd.sh [--conns 64] [--seconds 10] [--payload 128] [--rounds 1]
#                                        [--raft-setting "raft.lease-reads = on"]... [--own-sessions]
# With --rounds N every workload runs N times, alternating which system goes first, and the table
# gives the medians (rates and processor time move by a third from run to run on a small machine).
# Each --raft-setting line is appended to every RaftActors node's config (etcd runs as it is).
# --own-sessions starts every member of both systems in a session of its own (setsid), as a
# service manager or a container runtime would, instead of in this script's session: Linux then
# schedules each process's threads as a group, which changes what a thread hand-off costs.
# Installs Debian's etcd-server when etcd is missing (root and the Debian registry needed).
set -euo pipefail
cd "$(dirname "$0")/.."

conns=64 seconds=10 payload=128 rounds=1 raft_settings=() launch=()
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) conns=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --payload) payload=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --raft-setting) raft_settings+=("$2"); shift 2 ;;
    --own-sessions) launch=(setsid); shift ;;
    *) echo "usage: $0 [--conns N] [--seconds S] [--payload BYTES] [--rounds N] [--raft-setting LINE]... [--own-sessions]" >&2; exit 2 ;;
  esac
done
[ "$seconds" -ge 3 ] || { echo "--seconds must be at least 3" >&2; exit 2; }
[ "$rounds" -ge 1 ] || { echo "--rounds must be at least 1" >&2; exit 2; }

if ! command -v etcd >/dev/null; then
  apt-get install -y etcd-server >/dev/null || { apt-get update >/dev/null && apt-get install -y etcd-server >/dev/null; }
fi

work=$(mktemp -d /tmp/compare-etcd.XXXXXX)
pids=() etcd_pids=() raft_pids=()
warmup=2 # raftctl bench's own warm-up seconds, not counted in its figures
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building (Release)..."
dotnet build -c Release src/RaftActors.Server >/dev/null
dotnet build -c Release src/RaftActors.Cli >/dev/null
server=src/RaftActors.Server/bin/Release/net10.0/RaftActors.Server.dll
raftctl=src/RaftActors.Cli/bin/Release/net10.0/raftctl.dll

# etcd: three members, client ports 12379.., peer ports 12380..
cluster=""
for i in 1 2 3; do cluster+="${cluster:+,}e$i=http://127.0.0.1:$((12380 + 10 * i))"; done
for i in 1 2 3; do
  ${launch[@]+"${launch[@]}"} etcd --name "e$i" --data-dir "$work/etcd/e$i" \
    --listen-client-urls "http://127.0.0.1:$((12379 + 10 * i))" --advertise-client-urls "http://127.0.0.1:$((12379 + 10 * i))" \
    --listen-peer-urls "http://127.0.0.1:$((12380 + 10 * i))" --initial-advertise-peer-urls "http://127.0.0.1:$((12380 + 10 * i))" \
    --initial-cluster "$cluster" --initial-cluster-state new --log-level error >"$work/e$i.log" 2>&1 &
  pids+=($!) etcd_pids+=($!)
done
etcd_nodes="127.0.0.1:12389,127.0.0.1:12399,127.0.0.1:12409"

# RaftActors: the example configs (Akka 4051.., HTTP 8081..), data in the temporary directory.
for i in 1 2 3; do
  sed "s|\"data/n$i\"|\"$work/raft/n$i\"|" "hocon/node$i.conf" >"$work/node$i.conf"
  for setting in ${raft_settings[@]+"${raft_settings[@]}"}; do echo "$setting" >>"$work/node$i.conf"; done
  ${launch[@]+"${launch[@]}"} dotnet "$server" --config "$work/node$i.conf" >"$work/n$i.log" 2>&1 &
  pids+=($!) raft_pids+=($!)
done
raft_nodes="127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083"

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 1 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "$what did not come up; logs in $work" >&2; exit 1
}
wait_for "etcd" curl -sf -X POST "http://127.0.0.1:12389/v3/kv/put" -d '{"key":"cmVhZHk=","value":"MQ=="}'
wait_for "RaftActors" curl -sf -X PUT "http://127.0.0.1:8081/kv/ready" -d 1

# Processor time (user + system) of a system's three processes, in clock ticks.
ticks() { local t=0 pid; for pid in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo $t; }
hz=$(getconf CLK_TCK)

run() { # name api operation connections [flags]
  local name=$1 api=$2 op=$3 connections=$4; shift 4
  local nodes=$raft_nodes procs=("${raft_pids[@]}")
  [ "$api" = Etcd ] && nodes=$etcd_nodes procs=("${etcd_pids[@]}")
  echo "== $name"
  dotnet "$raftctl" --nodes "$nodes" bench "$op" --api "$api" --conns "$connections" --seconds "$seconds" --payload "$payload" \
    --json "$work/$name.json" "$@" 2>/dev/null &
  local bench=$!
  # The processes' processor time over the measured seconds (after the bench's own warm-up).
  sleep $((warmup + 1))
  local t0 c0 t1 c1
  t0=$(date +%s.%N) c0=$(ticks "${procs[@]}")
  sleep $((seconds - 2))
  t1=$(date +%s.%N) c1=$(ticks "${procs[@]}")
  wait $bench || true
  echo "$((c1 - c0)) $hz $t0 $t1" >"$work/$name.cpu"
}

# Warm-up, not measured: the servers' JIT compiles the hot paths in their first seconds of load.
for api in RaftActors Etcd; do
  nodes=$raft_nodes; [ "$api" = Etcd ] && nodes=$etcd_nodes
  dotnet "$raftctl" --nodes "$nodes" bench put --api "$api" --conns "$conns" --seconds 10 --payload "$payload" >/dev/null 2>&1 || true
done

pair() { # round workload operation connections [flags]: both systems, the first alternating by round
  local round=$1 workload=$2; shift 2
  if [ $((round % 2)) -eq 1 ]; then
    run "raft-$workload.$round" RaftActors "$@"; run "etcd-$workload.$round" Etcd "$@"
  else
    run "etcd-$workload.$round" Etcd "$@"; run "raft-$workload.$round" RaftActors "$@"
  fi
}
for round in $(seq 1 "$rounds"); do
  pair "$round" put put "$conns"
  pair "$round" get get "$conns"
  pair "$round" get-local get "$conns" --serializable
  pair "$round" put-1 put 1
done

python3 - "$work" "$conns" "$seconds" "$payload" "$rounds" "${#launch[@]}" ${raft_settings[@]+"${raft_settings[@]}"} <<'PY'
import json, sys, os, statistics
work, conns, seconds, payload, rounds, own_sessions = sys.argv[1:7]
raft_settings = sys.argv[7:]
def load_one(name):
    path = os.path.join(work, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None
def load(name):
    # The median round's figures: each field the median over the rounds that produced a result.
    runs = [r for r in (load_one(f"{name}.{k}") for k in range(1, int(rounds) + 1)) if r]
    if not runs:
        return None
    merged = {key: statistics.median(r[key] for r in runs) for key in ("RequestsPerSecond", "P50Ms", "P99Ms")}
    merged["cpu"] = [c for c in (cpu_one(f"{name}.{k}", load_one(f"{name}.{k}")) for k in range(1, int(rounds) + 1)) if c]
    return merged
def cpu_one(name, result):
    # Processor time of the system's three processes per request, over the sampled window.
    path = os.path.join(work, name + ".cpu")
    if not result or not os.path.exists(path):
        return None
    ticks, hz, t0, t1 = open(path).read().split()
    return int(ticks) / int(hz) * 1e6 / (result["RequestsPerSecond"] * (float(t1) - float(t0)))
def cpu_us(name, result):
    return statistics.median(result["cpu"]) if result and result["cpu"] else None
def us(value):
    return "-" if value is None else f"{value:,.0f}"
medians = f", medians of {rounds} rounds" if int(rounds) > 1 else ""
sessions = "; every member in a session of its own" if own_sessions != "0" else ""
print(f"\n{conns} connections (1 for the sequential rows), {seconds} s each, {payload}-byte values, same machine, same client{medians}{sessions}" +
      (f"; RaftActors with {', '.join(raft_settings)}" if raft_settings else ""))
print(f"| workload | RaftActors | etcd | RaftActors / etcd |")
print(f"| --- | --- | --- | --- |")
for label, name in [("writes/s", "put"), ("linearizable reads/s", "get"), ("local reads/s", "get-local"), ("sequential writes/s", "put-1")]:
    r, e = load("raft-" + name), load("etcd-" + name)
    if not r or not e:
        print(f"| {label} | {'-' if not r else round(r['RequestsPerSecond'])} | {'-' if not e else round(e['RequestsPerSecond'])} | - |")
        continue
    print(f"| {label} | {r['RequestsPerSecond']:,.0f} | {e['RequestsPerSecond']:,.0f} | {r['RequestsPerSecond'] / e['RequestsPerSecond']:.2f} |")
    print(f"| {label[:-2]} p50 / p99 ms | {r['P50Ms']:.2f} / {r['P99Ms']:.2f} | {e['P50Ms']:.2f} / {e['P99Ms']:.2f} | |")
    rc, ec = cpu_us("raft-" + name, r), cpu_us("etcd-" + name, e)
    ratio = f"{rc / ec:.2f}" if rc and ec else "-"
    print(f"| {label[:-2]}: processor time per request, three processes (us) | {us(rc)} | {us(ec)} | {ratio} |")
PY
