#!/usr/bin/env bash
# fresh5.sh: issue 18's fresh-install scenario, RUNS times (5), on durable
# PostgreSQL — each run a new cluster and database with PostgreSQL's own
# autovacuum settings and no ANALYZE (bench/scim.sh with FRESH=1): the
# Entra-style first cycle (per user a userName lookup answering none,
# then the POST), then get, filter and PATCH right after, then POST on
# the full store. Prints each run's table and, per scenario, the median
# of the runs: req/s, p99, and the CPU per request of rosterd, PostgreSQL
# and the load client, with the load average before each run.
#
#   bench/fresh5.sh                      # USERS=10000 DURATION=10s RUNS=5
set -euo pipefail
RUNS=${RUNS:-5}
export FRESH=1 USERS=${USERS:-10000} DURATION=${DURATION:-10s} PAGE_REQUESTS=${PAGE_REQUESTS:-50} KEEP=1
repo=$(cd "$(dirname "$0")/.." && pwd)
all=$(mktemp /tmp/rosterd-fresh5.XXXXXX.jsonl)
for i in $(seq "$RUNS"); do
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	out=$("$repo/bench/scim.sh" postgres 2>&1) || {
		echo "$out" | tail -30
		exit 1
	}
	work=$(echo "$out" | sed -n 's/^work directory kept: //p' | tail -1)
	echo "== run $i of $RUNS, load before: $load ($work)"
	echo "$out" | grep '^| ' || true
	# One line per scenario: the result and its CPU split.
	jq -c -n --slurpfile r "$work/results.jsonl" --slurpfile c "$work/cpu.jsonl" --arg run "$i" --arg load "$load" '
	  range(0; $r | length) as $k | $r[$k] as $x | $c[$k] as $y |
	  {run: ($run | tonumber), load: $load, scenario: $x.scenario, rps: $x.throughput_rps, p99: $x.latency_ms.p99,
	   errors: ($x.errors | length),
	   rosterd_ms: ($y.rosterd * 1000 / $x.throughput_rps), postgres_ms: ($y.postgres * 1000 / $x.throughput_rps),
	   client_ms: ($y.load * 1000 / $x.throughput_rps), others: $y.other}' >>"$all"
	rm -rf "$work"
done
echo
echo "=== medians of $RUNS runs (USERS=$USERS, DURATION=$DURATION, durable PostgreSQL, fresh database, no ANALYZE) ==="
echo "| scenario | req/s | p99 ms | CPU ms/req rosterd | PostgreSQL | client | cores taken by others |"
echo "|---|---|---|---|---|---|---|"
jq -r -s '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def r2: . * 100 | round / 100;
  group_by(.scenario)[] | . as $g |
  "| \($g[0].scenario) | \([$g[].rps] | median | floor) | \([$g[].p99] | median | r2) | \([$g[].rosterd_ms] | median | r2) | \([$g[].postgres_ms] | median | r2) | \([$g[].client_ms] | median | r2) | \([$g[].others] | median | r2) |"' "$all"
echo "loads before each run: $(jq -r -s 'map(select(.scenario == "cycle") | .load) | join("; ")' "$all")"
echo "per run: $all"
