#!/bin/bash
# ab-apply.sh OLD NEW [PAIRS]: the directory's apply benchmarks of two
# commits, alternating, so that both meet the same load on a shared
# machine. OLD runs BenchmarkApplyBatch (present in every commit since
# issue 7); NEW runs $NEW_BENCH (default: the same). Prints the rates
# with the time and the load average before each run.
#
#   bench/ab-apply.sh 8bb1dd6 HEAD 3                      # issue 15's target
#   NEW_BENCH='ApplyBatchRolesGroups/$be/card_groups$' bench/ab-apply.sh 8bb1dd6 HEAD
set -euo pipefail
old=$1 new=$2 pairs=${3:-3}
: "${NEW_BENCH:=^BenchmarkApplyBatch\$/\$be\$}"
dir=$(mktemp -d)
trap 'git worktree remove --force "$dir/old" >/dev/null 2>&1 || true; git worktree remove --force "$dir/new" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for side in old new; do
	git worktree add -q --detach "$dir/$side" "${!side}"
	(cd "$dir/$side" && go test -c -o "$dir/$side.test" ./directory/)
done
for i in $(seq "$pairs"); do
	for be in sqlite postgres; do
		for side in old new; do
			bench='^BenchmarkApplyBatch$/'"$be"'$'
			[ "$side" = new ] && bench=$(be=$be; eval echo "\"$NEW_BENCH\"")
			echo "== pair $i $be $side ${!side} $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
			(cd "$dir/$side/directory" && "$dir/$side.test" -test.run '^$' -test.bench "$bench" -test.benchtime 1x) | grep cards/s
		done
	done
done
