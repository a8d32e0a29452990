#!/usr/bin/env bash
# h2load.sh compares molt's core (`molt serve -quiet`) with the baseline
# xneth2c (net/http + golang.org/x/net/http2/h2c.NewHandler), both serving
# the same routes (internal/demo), under load.
#
# It builds both servers and the upgrade load generator into a temporary
# directory, starts the servers on free loopback ports, and runs ROUNDS
# interleaved rounds (molt, baseline, then baseline, molt, ...) of each load:
#
#   h2c-prior   HTTP/2 by prior knowledge: h2load -c 8 -m 32, GET /
#   h1-pipe     HTTP/1.1: h2load --h1 -c 8 -m 32 (h2load pipelines: 32
#               requests in flight per connection), GET /
#   h1          HTTP/1.1: h2load --h1 -c 8 -m 1 (no pipelining), GET /
#   upgrade     h2c upgrade handshakes: molt bench -mode h2c-upgrade
#               -upgrade-every -c 8, each client dialling a fresh
#               connection for every GET / with "Upgrade: h2c" (h2load
#               cannot upgrade); "req" = connection. Its -json report is
#               printed in h2load's shape for the parsing below.
#
# Each run lasts DURATION seconds. For every run it records the client's
# requests/s and the CPU time the server process used during the run
# (utime+stime from /proc/PID/stat, over getconf CLK_TCK), then prints per
# load the median req/s of each server, the median requests per server
# CPU-second, and the molt/baseline ratios (ratio of the medians, and
# median of the per-round paired ratios).
#
# When taskset is available and there are at least 2 CPUs, both servers are
# pinned to CPU 1 (so the Go runtime runs them with GOMAXPROCS=1) and the
# load generator to CPU 0; only one server is loaded at a time. PIN=0 turns
# pinning off: servers and load generator then share every CPU and the Go
# runtime runs each server with GOMAXPROCS=nproc (the unpinned method,
# closest to a real deployment; on a 2-core machine, run it on a quiet one).
#
# ENGINE=xnet serves molt's HTTP/2 with the engine on golang.org/x/net/http2
# (molt serve -engine xnet) instead of molt's own, the default (ENGINE=h2,
# package h2); the baseline stays xneth2c, so with ENGINE=h2 the ratios
# compare molt's engine with x/net's.
#
# PROFILE=1 writes a CPU profile of each server over the whole script
# (molt serve -cpuprofile, xneth2c -cpuprofile) to molt.prof and
# xneth2c.prof in the kept temporary directory (it implies KEEP=1); read
# them with go tool pprof -top DIR/molt DIR/molt.prof.
#
# Knobs (environment): ROUNDS (default 5), DURATION (seconds per run,
# default 8), CONNS (default 8), STREAMS (default 32), PATH_ (default /),
# LOADS (default "h2c-prior h1-pipe h1 upgrade"), PIN (default 1), ENGINE
# (default xnet), KEEP
# (set to 1 to keep the temporary directory with the raw client output),
# PROFILE (default 0).
#
# With the defaults the script takes about 6 minutes
# (ROUNDS x 4 loads x 2 servers x DURATION, plus 2s warm-ups and builds).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
CONNS=${CONNS:-8}
STREAMS=${STREAMS:-32}
PATH_=${PATH_:-/}
LOADS=${LOADS:-"h2c-prior h1-pipe h1 upgrade"}
PIN=${PIN:-1}
KEEP=${KEEP:-0}
PROFILE=${PROFILE:-0}
ENGINE=${ENGINE:-h2}
[[ $PROFILE == 1 ]] && KEEP=1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v h2load >/dev/null || { echo "h2load not found (Debian: apt-get install nghttp2-client)" >&2; exit 1; }
command -v go >/dev/null || { echo "go not found" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/molt-h2load.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [[ $KEEP == 1 ]]; then
		echo "raw output kept in $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "building molt and xneth2c into $work"
(cd "$here/.." && go build -o "$work/molt" ./cmd/molt)
(cd "$here" && go build -o "$work/xneth2c" ./cmd/xneth2c)

# CPU placement.
server_pin=()
client_pin=()
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && (($(nproc) >= 2)); then
	server_pin=(taskset -c 1)
	client_pin=(taskset -c 0)
	placement="servers pinned to CPU 1 (GOMAXPROCS=1), load generator pinned to CPU 0"
else
	placement="no CPU pinning (GOMAXPROCS=$(nproc))"
fi

# start NAME CMD... starts a server that listens on 127.0.0.1:0 and prints
# its address ("... on http://HOST:PORT") to stdout; it sets addr_NAME and
# pid_NAME.
start() {
	local name=$1
	shift
	"${server_pin[@]}" "$@" >"$work/$name.out" 2>"$work/$name.err" &
	local pid=$!
	pids+=("$pid")
	local addr="" i
	for ((i = 0; i < 100; i++)); do
		addr=$(grep -o -m1 'http://[0-9.]*:[0-9]*' "$work/$name.out" 2>/dev/null || true)
		[[ -n $addr ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z $addr ]]; then
		echo "$name did not start:" >&2
		cat "$work/$name.err" >&2
		exit 1
	fi
	printf -v "addr_$name" '%s' "${addr#http://}"
	printf -v "pid_$name" '%s' "$pid"
}

prof_molt=()
prof_xneth2c=()
if [[ $PROFILE == 1 ]]; then
	prof_molt=(-cpuprofile "$work/molt.prof")
	prof_xneth2c=(-cpuprofile "$work/xneth2c.prof")
fi
start molt "$work/molt" serve -addr 127.0.0.1:0 -quiet -engine "$ENGINE" "${prof_molt[@]}"
start xneth2c "$work/xneth2c" -addr 127.0.0.1:0 "${prof_xneth2c[@]}"

clk_tck=$(getconf CLK_TCK)

# cpu_ticks PID prints utime+stime of the whole process, in clock ticks.
# Fields are counted after the ")" that ends the command name.
cpu_ticks() {
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) }
	awk '{ print $12 + $13 }' <<<"$stat"
}

# load LOAD SECONDS URL runs the client of LOAD against URL for SECONDS,
# printing h2load's summary (for upgrade, molt bench's in the same shape).
load() {
	local args
	case $1 in
	h2c-prior) args=(-c "$CONNS" -m "$STREAMS") ;;
	h1-pipe) args=(--h1 -c "$CONNS" -m "$STREAMS") ;;
	h1) args=(--h1 -c "$CONNS" -m 1) ;;
	upgrade)
		"${client_pin[@]}" "$work/molt" bench -json -mode h2c-upgrade -upgrade-every -c "$CONNS" -d "$2s" "$3" 2>/dev/null |
			python3 -c '
import json, sys
r = json.load(sys.stdin)
st = r["status"]
n = lambda lo: sum(v for k, v in st.items() if lo <= int(k) < lo + 100)
e = r["errors_by_kind"]
print("finished in %.2fs, %.2f req/s, %.0fB/s" % (r["elapsed_s"], r["requests_per_s"], r["bytes_per_s"]))
print("requests: %d total, %d started, %d done, %d succeeded, %d failed, %d errored, %d timeout" % (
    r["requests"] + r["errors"], r["requests"] + r["errors"], r["requests"] + r["errors"], n(200),
    r["requests"] - n(200), r["errors"] - e.get("timeout", 0), e.get("timeout", 0)))
print("status codes: %d 2xx, %d 3xx, %d 4xx, %d 5xx" % (n(200), n(300), n(400), n(500)))
print("Application protocol: h2c-upgrade")'
		return
		;;
	*)
		echo "unknown load $1" >&2
		exit 1
		;;
	esac
	"${client_pin[@]}" h2load "${args[@]}" -D "$2" "$3"
}

results="$work/results.tsv"
: >"$results"

# run ROUND LOAD SERVER runs h2load once and appends
# "round load server rps succeeded cpu_seconds" to $results.
run() {
	local round=$1 load=$2 server=$3
	local addr_var="addr_$server" pid_var="pid_$server"
	local addr=${!addr_var} pid=${!pid_var}
	local out="$work/$load.$server.$round.txt"
	local before after
	before=$(cpu_ticks "$pid")
	load "$load" "$DURATION" "http://$addr$PATH_" >"$out" 2>&1 || {
		echo "load failed for $load/$server round $round:" >&2
		cat "$out" >&2
		exit 1
	}
	after=$(cpu_ticks "$pid")
	local rps ok failed non2xx proto
	rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$out")
	ok=$(awk '/^requests:/ { print $8 }' "$out")
	failed=$(awk '/^requests:/ { print $10 + $12 + $14 }' "$out")
	non2xx=$(awk '/^status codes:/ { print $5 + $7 + $9 }' "$out")
	proto=$(awk -F': ' '/^Application protocol/ { print $2 }' "$out")
	if [[ -z $rps || -z $ok ]]; then
		echo "could not parse h2load output for $load/$server round $round:" >&2
		cat "$out" >&2
		exit 1
	fi
	if ((failed > 0 || non2xx > 0)); then
		echo "warning: $load/$server round $round: $failed failed/errored/timed out, $non2xx non-2xx" >&2
	fi
	local cpu
	cpu=$(awk -v a="$before" -v b="$after" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$load" "$server" "$rps" "$ok" "$cpu" >>"$results"
	printf '  round %d  %-9s  %-7s  %-11s %10.0f req/s  %6.2f CPU-s  %10.0f req/CPU-s\n' \
		"$round" "$load" "$server" "${proto:-?}" "$rps" "$cpu" \
		"$(awk -v n="$ok" -v c="$cpu" 'BEGIN { print (c > 0 ? n / c : 0) }')"
}

echo "molt (-engine $ENGINE) on $addr_molt (pid $pid_molt), xneth2c on $addr_xneth2c (pid $pid_xneth2c)"
echo "$placement; $ROUNDS rounds of ${DURATION}s per load and server; loads: $LOADS"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Warm-up: one short unrecorded run of each load on each server.
for load in $LOADS; do
	for server in molt xneth2c; do
		addr_var="addr_$server"
		load "$load" 2 "http://${!addr_var}$PATH_" >/dev/null 2>&1
	done
done

for ((round = 1; round <= ROUNDS; round++)); do
	for load in $LOADS; do
		# Alternate which server goes first, so neither always runs
		# right after the other's load.
		if ((round % 2)); then order="molt xneth2c"; else order="xneth2c molt"; fi
		for server in $order; do
			run "$round" "$load" "$server"
		done
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# median reads numbers, one per line, and prints their median.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# column LOAD SERVER EXPR prints EXPR (an awk expression over rps, ok, cpu)
# for each run of LOAD on SERVER, one per line.
column() {
	awk -F'\t' -v l="$1" -v s="$2" "\$2 == l && \$3 == s { rps = \$4; ok = \$5; cpu = \$6; print $3 }" "$results"
}

# paired LOAD EXPR prints, per round, EXPR of molt divided by EXPR of
# xneth2c.
paired() {
	awk -F'\t' -v l="$1" "
		\$2 == l { rps = \$4; ok = \$5; cpu = \$6; v[\$1, \$3] = $2; r[\$1] = 1 }
		END { for (k in r) if (v[k, \"xneth2c\"] > 0) print v[k, \"molt\"] / v[k, \"xneth2c\"] }" "$results"
}

echo
echo "molt (-engine $ENGINE) vs xneth2c (net/http + x/net h2c.NewHandler), GET $PATH_, $ROUNDS rounds x ${DURATION}s, $placement"
echo "medians over rounds; ratio = molt/xneth2c (of the medians | median of per-round ratios)"
printf '%-9s  %12s %12s %15s  %14s %14s %15s\n' load "molt req/s" "base req/s" "ratio" "molt req/CPUs" "base req/CPUs" "ratio"
for load in $LOADS; do
	m_rps=$(column "$load" molt rps | median)
	b_rps=$(column "$load" xneth2c rps | median)
	m_eff=$(column "$load" molt '(cpu > 0 ? ok / cpu : 0)' | median)
	b_eff=$(column "$load" xneth2c '(cpu > 0 ? ok / cpu : 0)' | median)
	p_rps=$(paired "$load" rps | median)
	p_eff=$(paired "$load" '(cpu > 0 ? ok / cpu : 0)' | median)
	awk -v l="$load" -v mr="$m_rps" -v br="$b_rps" -v me="$m_eff" -v be="$b_eff" -v pr="$p_rps" -v pe="$p_eff" 'BEGIN {
		printf "%-9s  %12.0f %12.0f %7.3f|%-7.3f  %14.0f %14.0f %7.3f|%.3f\n", l, mr, br, (br > 0 ? mr / br : 0), pr, me, be, (be > 0 ? me / be : 0), pe
	}'
done
