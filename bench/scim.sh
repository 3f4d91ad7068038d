#!/usr/bin/env bash
# SCIM benchmark (issue 3): a running `rosterd serve` on PostgreSQL and on
# SQLite, driven over HTTP on 127.0.0.1 by cmd/rosterd-load.
#
#   bench/scim.sh                 # both backends
#   bench/scim.sh postgres        # one backend (postgres | sqlite)
#   USERS=10000 DURATION=5s bench/scim.sh
#
# Per backend: a fresh store; seed USERS users by POST at CONCURRENCY (that
# is the POST measurement as the store grows from empty); then GET by id,
# filter userName eq, PATCH active, each for DURATION at CONCURRENCY; a page
# of 100 at startIndex PAGE_START (and at 1, for comparison), PAGE_REQUESTS
# requests at concurrency 1; last a DURATION-long POST run on the full store.
#
# PostgreSQL is a throwaway cluster this script starts itself (initdb -A
# trust, Unix socket only, listen_addresses=''), its data on disk under
# /tmp, with PostgreSQL's default durability: fsync, synchronous_commit and
# full_page_writes on. Statements slower than PG_SLOW_MS are logged (and
# their plans, by auto_explain) and summarized at the end. PGSS=1 also loads
# pg_stat_statements and prints the statements that took the most time.
# SQLite is a file in a temp directory (rosterd's WAL, synchronous=NORMAL).
#
# Environment: USERS (100000), DURATION (20s), CONCURRENCY (32),
# PAGE_START (90001), PAGE_REQUESTS (200), PG_SLOW_MS (100), PGSS (0),
# REV (unset: build rosterd from the working tree; a commit: from that commit),
# PERF (0: 1 records 10 s perf profiles of rosterd and the cluster's
# postgres during get, filter and patch, when DURATION ≥ 15s, and prints
# where they spend their CPU; PostgreSQL's planning vs. execution share),
# KEEP (0: 1 keeps the work directory),
# PG_DSN_PARAMS (appended to rosterd's DSN, e.g. "&plan_cache_mode=auto":
# session settings to compare),
# FRESH (0: 1 is a new install's first push: the users are seeded by
# rosterd-load's cycle, a userName lookup that finds none then the POST
# per user, as Entra ID and Okta do, and get/filter/patch follow with no
# VACUUM ANALYZE: statistics only if autovacuum took them meanwhile).
set -euo pipefail

USERS=${USERS:-100000}
DURATION=${DURATION:-20s}
CONCURRENCY=${CONCURRENCY:-32}
PAGE_START=${PAGE_START:-90001}
PAGE_REQUESTS=${PAGE_REQUESTS:-200}
PG_SLOW_MS=${PG_SLOW_MS:-100}
PGSS=${PGSS:-0}
PERF=${PERF:-0}
KEEP=${KEEP:-0}
PG_DSN_PARAMS=${PG_DSN_PARAMS:-}
FRESH=${FRESH:-0}

backends=("$@")
[ ${#backends[@]} -eq 0 ] && backends=(postgres sqlite)
for b in "${backends[@]}"; do
	case $b in postgres | sqlite) ;; *)
		echo "unknown backend $b (want postgres or sqlite)" >&2
		exit 2
		;;
	esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/rosterd-bench.XXXXXX)
chmod 755 "$work" # the postgres OS user must reach its directory inside
bin=$work/bin
results=$work/results.jsonl
summary=$work/summary.txt
cpu=$work/cpu.jsonl
: >"$cpu"
: >"$results"
: >"$summary"

rosterd_pid=""
pg_bindir=""
pg_data=""

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		(cd "$work" && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

stop_rosterd() {
	if [ -n "$rosterd_pid" ] && kill -0 "$rosterd_pid" 2>/dev/null; then
		kill -TERM "$rosterd_pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$rosterd_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$rosterd_pid" 2>/dev/null || true
		wait "$rosterd_pid" 2>/dev/null || true
	fi
	rosterd_pid=""
}

stop_pg() {
	if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
		as_pg "$pg_bindir/pg_ctl" -D "$pg_data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
	fi
	pg_data=""
}

cleanup() {
	stop_rosterd
	stop_pg
	if [ "$KEEP" = 1 ]; then
		echo "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 30000))
		if [ -z "$(ss -Htln "sport = :$p")" ]; then
			echo "$p"
			return
		fi
	done
	echo "no free port found" >&2
	return 1
}

secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# CPU accounting: clock ticks of user+system time.
hz=$(getconf CLK_TCK)
proc_ticks() { # pid [with reaped children]
	local f=/proc/$1/stat
	[ -r "$f" ] || {
		echo 0
		return
	}
	sed 's/^.*) //' "$f" | awk -v kids="${2:-0}" '{ t = $12 + $13; if (kids) t += $14 + $15; print t }'
}
pg_ticks() {
	[ -n "$pg_data" ] || {
		echo 0
		return
	}
	local pm t c
	pm=$(head -1 "$pg_data/postmaster.pid")
	t=$(proc_ticks "$pm" 1) # the postmaster and every backend it has reaped
	for c in $(pgrep -P "$pm"); do
		t=$((t + $(proc_ticks "$c")))
	done
	echo "$t"
}
machine_ticks() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 }' /proc/stat; } # user nice system irq softirq
cpu_mark() { echo "$(proc_ticks "$rosterd_pid") $(pg_ticks) $(machine_ticks) $(date +%s.%N)"; }
cpu_report() { # before-mark name client-cpu-seconds
	local -a a b
	read -r -a a <<<"$1"
	read -r -a b <<<"$(cpu_mark)"
	awk -v r0="${a[0]}" -v p0="${a[1]}" -v m0="${a[2]}" -v t0="${a[3]}" \
		-v r1="${b[0]}" -v p1="${b[1]}" -v m1="${b[2]}" -v t1="${b[3]}" -v hz="$hz" -v name="$2" -v ncpu="$(nproc)" -v cl="${3:-0}" \
		'BEGIN { s = t1 - t0; if (s <= 0) s = 1;
		  r = (r1 - r0) / hz / s; p = (p1 - p0) / hz / s; m = (m1 - m0) / hz / s; c = cl / s; o = m - r - p - c; if (o < 0) o = 0;
		  printf "  cpu during %s, cores busy of %d: rosterd %.2f  postgres %.2f  rosterd-load %.2f  other processes %.2f  (machine %.2f)\n",
		    name, ncpu, r, p, c, o, m;
		  printf "{\"rosterd\":%.3f,\"postgres\":%.3f,\"load\":%.3f,\"other\":%.3f}\n", r, p, c, o > "/dev/stderr" }' 2>>"$cpu"
}

load() { # backend scenario [flags…]
	local backend=$1 scenario=$2
	shift 2
	local out mark
	mark=$(cpu_mark)
	out=$(ROSTERD_LOAD_TOKEN=$token "$bin/rosterd-load" -url "$base" -scenario "$scenario" -label "$backend" -json "$@") || {
		echo "$out"
		echo "rosterd-load $scenario failed; rosterd log tail:" >&2
		tail -20 "$work/rosterd-$backend.log" >&2
		return 1
	}
	echo "$out" | grep -v '^{' | tee -a "$summary"
	echo "$out" | grep '^{' >>"$results"
	cpu_report "$mark" "$scenario" "$(echo "$out" | grep '^{' | sed -E 's/.*"client_cpu_s":([0-9.e+-]+).*/\1/')" | tee -a "$summary"
}

perf_profile() { # backend scenario: a 10 s profile of rosterd and our postgres, in the background
	[ "$PERF" = 1 ] || return 0
	local secs=${DURATION%s}
	case $secs in *[!0-9]* | "") return 0 ;; esac
	[ "$secs" -ge 15 ] || return 0 # the profile runs from 3 s to 13 s into the scenario
	local data=$work/perf-$1-$2.data txt=$work/perf-$1-$2.txt pids=$rosterd_pid pm
	if [ -n "$pg_data" ]; then
		pm=$(head -1 "$pg_data/postmaster.pid")
		pids="$pids,$pm$(pgrep -P "$pm" | sed 's/^/,/' | tr -d '\n')"
	fi
	(
		sleep 3
		perf record -g -F 499 -p "$pids" -o "$data" -- sleep 10 >/dev/null 2>&1 || exit 0
		{
			echo "samples by process (of rosterd + this cluster's postgres only):"
			perf report -i "$data" --stdio --no-children --sort comm 2>/dev/null | grep -E '^ +[0-9.]+%' | sed -n 1,4p
			echo "postgres, inclusive: planning = GetCachedPlan, execution = standard_ExecutorRun"
			perf report -i "$data" --stdio --children --comm postgres --sort symbol 2>/dev/null |
				grep -E '^ +[0-9.]+%.*\] (PostgresMain|GetCachedPlan|standard_ExecutorRun|CommitTransactionCommand) ' | awk '{print $1, $4}'
			echo "rosterd, inclusive, top module functions:"
			perf report -i "$data" --stdio --children --comm rosterd --sort symbol 2>/dev/null |
				grep -E '^ +[0-9.]+%.*\] github.com/' | grep -v 'internal/daemon' | sed -n 1,20p | awk '{print $1, $4}'
		} >"$txt"
		[ "$KEEP" = 1 ] || rm -f "$data"
	) &
}

start_pg() {
	local initdb
	initdb=$(command -v initdb || true)
	if [ -n "$initdb" ] && [ -x "$(dirname "$(readlink -f "$initdb")")/pg_ctl" ]; then
		pg_bindir=$(dirname "$(readlink -f "$initdb")")
	else
		pg_bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -1)
	fi
	[ -x "$pg_bindir/initdb" ] || {
		echo "PostgreSQL server binaries not found: apt-get install postgresql" >&2
		return 1
	}
	local dir=$work/pg
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
	pg_data=$dir/data
	pg_port=$(free_port)
	as_pg "$pg_bindir/initdb" -D "$pg_data" -A trust -E UTF8 --no-locale -U postgres >"$dir/initdb.log" 2>&1
	local preload=""
	[ "$PGSS" = 1 ] && preload="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
	# Default durability, said explicitly: fsync, synchronous_commit and
	# full_page_writes on. Logging: statements slower than PG_SLOW_MS, with
	# their plans.
	as_pg "$pg_bindir/pg_ctl" -D "$pg_data" -l "$dir/postgres.log" -w -t 60 -o \
		"-k $dir -p $pg_port -c listen_addresses= -c max_connections=200 -c dynamic_shared_memory_type=mmap \
		 -c fsync=on -c synchronous_commit=on -c full_page_writes=on \
		 -c log_min_duration_statement=$PG_SLOW_MS -c log_autovacuum_min_duration=0 -c session_preload_libraries=auto_explain \
		 -c auto_explain.log_min_duration=$PG_SLOW_MS -c auto_explain.log_format=text $preload" start >/dev/null
	as_pg "$pg_bindir/psql" -h "$dir" -p "$pg_port" -U postgres -d postgres -qAt -c "CREATE DATABASE rosterd" >/dev/null
	[ "$PGSS" = 1 ] && as_pg "$pg_bindir/psql" -h "$dir" -p "$pg_port" -U postgres -d rosterd -qAt -c "CREATE EXTENSION pg_stat_statements" >/dev/null
	local settings
	settings=$(as_pg "$pg_bindir/psql" -h "$dir" -p "$pg_port" -U postgres -d rosterd -qAt -F ' ' \
		-c "SELECT name || '=' || setting FROM pg_settings WHERE name IN ('fsync','synchronous_commit','full_page_writes','shared_buffers','server_version') ORDER BY name" | tr '\n' ' ')
	echo "PostgreSQL cluster in $pg_data (disk, not tmpfs): $settings— PostgreSQL's default durability, fsync NOT turned off" | tee -a "$summary"
	dsn="postgres://postgres@/rosterd?host=$dir&port=$pg_port&sslmode=disable$PG_DSN_PARAMS"
}

pg_psql() { as_pg "$pg_bindir/psql" -h "$work/pg" -p "$pg_port" -U postgres -d rosterd -qAt "$@"; }

start_rosterd() { # backend
	local backend=$1 port store
	port=$(free_port)
	token=$(secret)
	mkdir -p "$work/$backend"
	if [ "$backend" = postgres ]; then
		store="{driver: postgres, dsn: \"$dsn\"}"
	else
		store="{driver: sqlite, dsn: \"$work/$backend/rosterd.db\"}"
	fi
	umask 077
	cat >"$work/$backend/rosterd.yaml" <<EOF
listen: 127.0.0.1:$port
data_dir: $work/$backend
log: {level: warn, format: text}
store: $store
admin_keys:
  - name: bench
    key: $(secret)
tenants:
  - id: acme
    name: Acme Inc.
    invite: none
    scim:
      - name: bench
        token: $token
EOF
	umask 022
	"$bin/rosterd" serve --config "$work/$backend/rosterd.yaml" >"$work/rosterd-$backend.log" 2>&1 &
	rosterd_pid=$!
	for _ in $(seq 300); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
			break
		fi
		kill -0 "$rosterd_pid" 2>/dev/null || {
			echo "rosterd exited:" >&2
			cat "$work/rosterd-$backend.log" >&2
			return 1
		}
		sleep 0.1
	done
	base=http://127.0.0.1:$port/scim/acme/v2
	echo "rosterd $("$bin/rosterd" version 2>&1 | sed -n 1p) serving $base (pid $rosterd_pid, log level warn)" | tee -a "$summary"
}

slow_statements() {
	local log=$work/pg/postgres.log
	local n
	n=$(grep -c 'LOG:  duration: ' "$log" || true)
	echo "PostgreSQL: $n statements slower than ${PG_SLOW_MS} ms (log_min_duration_statement)" | tee -a "$summary"
	[ "$n" -gt 0 ] || return 0
	# Group by statement text (parameters differ), slowest first.
	awk '/^[0-9][0-9][0-9][0-9]-/ { if (cur != "") print cur; cur = $0; next } { gsub(/[\t ]+/, " "); cur = cur $0 } END { if (cur != "") print cur }' "$log" |
		grep 'LOG:  duration: .* ms  \(statement\|execute\)' |
		sed -E 's/^.*duration: ([0-9.]+) ms  (statement|execute [^:]*): /\1\t/' |
		awk -F'\t' '{ key = substr($2, 1, 400); n[key]++; s[key] += $1; if ($1 > m[key]) m[key] = $1 }
		  END { for (k in n) printf "%6d× mean %7.1f ms max %7.1f ms  %s\n", n[k], s[k] / n[k], m[k], k }' |
		sort -k1,1nr | sed -n 1,15p | tee -a "$summary" || true
	echo "  (plans of slow statements: auto_explain lines in $log)"
	local first
	first=$(grep -m1 'automatic analyze of table "rosterd.public.claims"' "$log" | cut -c1-23 || true)
	echo "  first automatic analyze of claims: ${first:-none during the run} (until then the planner has no statistics on it; the cluster started $(head -c 23 "$log"))" | tee -a "$summary"
}

top_statements() {
	[ "$PGSS" = 1 ] || return 0
	echo "pg_stat_statements, by total time:" | tee -a "$summary"
	pg_psql -F ' | ' -c "SELECT calls, round(total_exec_time::numeric, 0) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms,
		round(max_exec_time::numeric, 1) AS max_ms, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 300)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'rosterd')
		ORDER BY total_exec_time DESC LIMIT 15" | tee -a "$summary"
}

bench_backend() {
	local backend=$1
	echo
	echo "=== $backend: $USERS users, concurrency $CONCURRENCY, $DURATION per scenario ===" | tee -a "$summary"
	[ "$backend" = postgres ] && start_pg
	start_rosterd "$backend"
	local ids=$work/$backend/ids.txt t0
	t0=$(date +%s)
	local seed=seed
	[ "$FRESH" = 1 ] && seed=cycle
	load "$backend" "$seed" -seed "$USERS" -ids "$ids" -concurrency "$CONCURRENCY"
	echo "  seeding took $(($(date +%s) - t0)) s" | tee -a "$summary"
	if [ "$backend" = postgres ] && [ "$FRESH" = 1 ]; then
		echo "  database size after the first cycle: $(pg_psql -c "SELECT pg_size_pretty(pg_database_size('rosterd'))"); analysed by autovacuum so far: $(pg_psql -c "SELECT coalesce(string_agg(relname, ' '), 'none') FROM pg_stat_user_tables WHERE autoanalyze_count > 0")" | tee -a "$summary"
	elif [ "$backend" = postgres ]; then
		echo "  database size after seeding: $(pg_psql -c "SELECT pg_size_pretty(pg_database_size('rosterd'))")" | tee -a "$summary"
		pg_psql -c "VACUUM ANALYZE" # what autovacuum would have done by now; keeps the runs comparable
	fi
	perf_profile "$backend" get
	load "$backend" get -ids "$ids" -concurrency "$CONCURRENCY" -duration "$DURATION"
	wait_perf
	perf_profile "$backend" filter
	load "$backend" filter -ids "$ids" -concurrency "$CONCURRENCY" -duration "$DURATION"
	wait_perf
	perf_profile "$backend" patch
	load "$backend" patch -ids "$ids" -concurrency "$CONCURRENCY" -duration "$DURATION"
	wait_perf
	load "$backend" page -start-index "$PAGE_START" -count 100 -concurrency 1 -requests "$PAGE_REQUESTS"
	load "$backend" page -start-index 1 -count 100 -concurrency 1 -requests "$PAGE_REQUESTS"
	load "$backend" post -concurrency "$CONCURRENCY" -duration "$DURATION"
	local problems
	problems=$(grep -cE 'level=(WARN|ERROR)' "$work/rosterd-$backend.log" || true)
	echo "rosterd log: $problems warning/error lines" | tee -a "$summary"
	[ "$problems" = 0 ] || grep -E 'level=(WARN|ERROR)' "$work/rosterd-$backend.log" | sed -n 1,5p
	stop_rosterd
	if [ "$backend" = postgres ]; then
		slow_statements
		top_statements
		stop_pg
	else
		echo "  SQLite file after the run: $(du -sh "$work/$backend" | cut -f1) in $work/$backend" | tee -a "$summary"
	fi
}

wait_perf() {
	[ "$PERF" = 1 ] || return 0
	wait_jobs=$(jobs -pr | grep -v "^$rosterd_pid\$" || true)
	for j in $wait_jobs; do wait "$j" 2>/dev/null || true; done
	for f in "$work"/perf-*.txt; do
		[ -f "$f" ] || continue
		echo "  perf profile ($(basename "$f" .txt)), 10 s, percentages of all samples:"
		sed 's/^/    /' "$f"
		rm -f "$f"
	done
}

echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(free -g | awk '/Mem:/{print $2}') GiB, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), $(go version | cut -d' ' -f3)" | tee -a "$summary"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine share its CPUs; see \"other processes\" per scenario)" | tee -a "$summary"
# rosterd from the working tree, or with REV=<commit> from that commit
# (git archive into the work directory: the repository is not touched), so
# that a tree others are editing does not decide what is measured.
src=$repo
if [ -n "${REV:-}" ]; then
	src=$work/src
	mkdir -p "$src"
	git -C "$repo" archive "$REV" | tar -x -C "$src"
	echo "rosterd built from commit $(git -C "$repo" rev-parse --short "$REV")" | tee -a "$summary"
else
	echo "rosterd built from the working tree: HEAD $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'), $(git -C "$repo" status --porcelain 2>/dev/null | wc -l) changed or new paths" | tee -a "$summary"
fi
echo "building rosterd and rosterd-load into $bin" >&2
(cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$bin/rosterd" ./cmd/rosterd)
(cd "$repo" && go build -trimpath -o "$bin/rosterd-load" ./cmd/rosterd-load)

start=$(date +%s)
for b in "${backends[@]}"; do
	bench_backend "$b"
done

echo
echo "=== summary ($(($(date +%s) - start)) s) ==="
cat "$summary"
if command -v jq >/dev/null; then
	echo
	echo "CPU ms/req: CPU time of rosterd + database + load generator per successful request; others: cores taken meanwhile by other processes on the machine"
	echo "| backend | scenario | conc. | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | CPU ms/req | others |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	jq -n -r --slurpfile r "$results" --slurpfile c "$cpu" '
	  range(0; $r | length) as $i | $r[$i] as $x | ($c[$i] // {rosterd: 0, postgres: 0, load: 0, other: 0}) as $y |
	  (($y.rosterd + $y.postgres + $y.load) * 1000 / (if $x.throughput_rps > 0 then $x.throughput_rps else 1 end)) as $ms |
	  "| \($x.label) | \($x.scenario) | \($x.concurrency) | \($x.requests) | \($x.throughput_rps | floor) | \($x.latency_ms.p50) | \($x.latency_ms.p90) | \($x.latency_ms.p99) | \($x.latency_ms.max) | \(if ($x.errors | length) == 0 then "0" else ($x.errors | to_entries | map("\(.key)×\(.value)") | join(" ")) end) | \($ms * 100 | round / 100) | \($y.other) |"'
fi
echo
echo "JSON results:"
cat "$results"
