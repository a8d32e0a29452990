#!/usr/bin/env bash
# engines.sh compares molt's two HTTP/2 engines with the C servers on the
# same machine, in one run: `molt serve -quiet -engine h2`, `molt serve
# -quiet -engine xnet`, nghttpd and h2o, each serving GET / ("hello", 5
# bytes: molt's demo route; a 5-byte static file for nghttpd and h2o), over
# HTTP/2 by prior knowledge, under h2load.
#
# Loads (LOADS, names are -c and -m of h2load):
#
#   c8m32    h2load -c 8 -m 32   (many streams on few connections)
#   c100m1   h2load -c 100 -m 1  (many connections, one stream each)
#   c1m100   h2load -c 1 -m 100  (one connection, many streams)
#
# It runs ROUNDS interleaved rounds (the order of the servers rotates each
# round), each run lasting DURATION seconds after a 2-second unrecorded
# warm-up of every load on every server, and records per run the client's
# requests/s, the server's CPU time (utime+stime from /proc/PID/stat) and
# its read and write system calls (syscr, syscw from /proc/PID/io). It
# prints per load the median of each over the rounds, per server, and the
# ratios of the medians: molt h2 (and h2_1p) / xnet, xnet_1p, nghttpd, h2o.
#
# PIN=1 (the default) pins every server to CPU 1 (the Go servers then run
# with GOMAXPROCS=1; h2o runs with one thread) and h2load to CPU 0. PIN=0
# pins nothing: servers and client share both CPUs, the Go servers run with
# GOMAXPROCS=nproc and h2o with its default threads, the way servers are
# run.
#
#   ./engines.sh                      # pinned
#   PIN=0 ./engines.sh                # unpinned
#   ROUNDS=5 DURATION=8 LOADS=c8m32 SERVERS="h2 xnet" ./engines.sh
#
# Knobs (environment): ROUNDS (default 3), DURATION (default 5), LOADS
# (default "c8m32 c100m1 c1m100"), SERVERS (default "h2 xnet nghttpd h2o";
# nghttpd comes from Debian's nghttp2-server, h2o from h2o; h2_1p and
# xnet_1p are h2 and xnet run with GOMAXPROCS=1 however they are placed:
# with PIN=0, one Go thread on a machine whose CPUs are all free to it),
# PIN (default 1), KEEP=1 keeps the temporary directory with the raw
# output.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
LOADS=${LOADS:-"c8m32 c100m1 c1m100"}
SERVERS=${SERVERS:-"h2 xnet nghttpd h2o"}
PIN=${PIN:-1}
KEEP=${KEEP:-0}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
need() {
	command -v "$1" >/dev/null || {
		echo "$1 not found ($2)" >&2
		exit 1
	}
}
need h2load "Debian: apt-get install nghttp2-client"
need go "https://go.dev/dl"
for s in $SERVERS; do
	case $s in
	nghttpd) need nghttpd "Debian: apt-get install nghttp2-server" ;;
	h2o) need h2o "Debian: apt-get install h2o" ;;
	h2 | xnet | h2_1p | xnet_1p) ;;
	*)
		echo "unknown server $s (want h2, xnet, h2_1p, xnet_1p, nghttpd, h2o)" >&2
		exit 2
		;;
	esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/molt-engines.XXXXXX")
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

echo "building molt into $work"
(cd "$here/.." && go build -o "$work/molt" ./cmd/molt)
mkdir "$work/www"
chmod 755 "$work" # h2o run as root serves files as nobody
printf hello >"$work/www/index.html"

pin_setup h2load

# start1 NAME (for lib.sh's start) starts server NAME on a free port and
# waits until it answers; it sets port_NAME and pid_NAME.
start1() {
	local name=$1 port
	port=$(free_port)
	case $name in
	h2 | xnet)
		"${server_pin[@]}" "$work/molt" serve -addr "127.0.0.1:$port" -quiet -engine "$name" \
			>"$work/$name.out" 2>&1 &
		;;
	h2_1p | xnet_1p)
		GOMAXPROCS=1 "${server_pin[@]}" "$work/molt" serve -addr "127.0.0.1:$port" -quiet -engine "${name%_1p}" \
			>"$work/$name.out" 2>&1 &
		;;
	nghttpd | h2o)
		start_c_server "$name" "$port"
		;;
	esac
	pids+=("$!")
	await_server "$name" "$!" "$port" /
}

for s in $SERVERS; do
	start "$s"
done

# h2load_args LOAD prints h2load's -c and -m for LOAD.
h2load_args() {
	case $1 in
	c8m32) echo "-c 8 -m 32" ;;
	c100m1) echo "-c 100 -m 1" ;;
	c1m100) echo "-c 1 -m 100" ;;
	*)
		echo "unknown load $1" >&2
		exit 2
		;;
	esac
}

results="$work/results.tsv"
: >"$results"

# run ROUND LOAD SERVER runs one measured load and appends "round load
# server rps ok cpu_seconds reads writes" to $results.
run() {
	local round=$1 load=$2 server=$3
	local port_var="port_$server" pid_var="pid_$server"
	local port=${!port_var} pid=${!pid_var} out="$work/$load.$server.$round.txt"
	local c0 r0 w0 c1 r1 w1
	read -r c0 r0 w0 < <(counters "$pid")
	# shellcheck disable=SC2046
	"${client_pin[@]}" h2load $(h2load_args "$load") -D "$DURATION" "http://127.0.0.1:$port/" >"$out" 2>&1 || {
		echo "h2load failed for $load/$server round $round:" >&2
		cat "$out" >&2
		exit 1
	}
	read -r c1 r1 w1 < <(counters "$pid")
	local rps ok bad
	rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$out")
	ok=$(awk '/^requests:/ { print $8 }' "$out")
	bad=$(awk '/^requests:/ { print $10 + $12 + $14 }' "$out")
	if [[ -z $rps || -z $ok || $ok == 0 ]]; then
		echo "could not parse h2load output for $load/$server round $round:" >&2
		cat "$out" >&2
		exit 1
	fi
	((bad == 0)) || echo "warning: $load/$server round $round: $bad requests failed" >&2
	local cpu
	cpu=$(awk -v a="$c0" -v b="$c1" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$load" "$server" "$rps" "$ok" "$cpu" "$((r1 - r0))" "$((w1 - w0))" >>"$results"
	awk -v r="$round" -v l="$load" -v s="$server" -v rps="$rps" -v ok="$ok" -v cpu="$cpu" -v rd="$((r1 - r0))" -v wr="$((w1 - w0))" 'BEGIN {
		printf "  round %d  %-7s %-8s %10.0f req/s  %6.2f CPU-s  %9.0f req/CPU-s  %.3f reads/req  %.3f writes/req\n", r, l, s, rps, cpu, (cpu > 0 ? ok / cpu : 0), rd / ok, wr / ok
	}'
}

echo "servers: $SERVERS; $placement"
echo "$ROUNDS rounds of ${DURATION}s per load and server; loads: $LOADS"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for load in $LOADS; do
	for s in $SERVERS; do
		port_var="port_$s"
		# shellcheck disable=SC2046
		"${client_pin[@]}" h2load $(h2load_args "$load") -D 2 "http://127.0.0.1:${!port_var}/" >/dev/null 2>&1
	done
done
read -r -a order <<<"$SERVERS"
for ((round = 1; round <= ROUNDS; round++)); do
	for load in $LOADS; do
		for ((i = 0; i < ${#order[@]}; i++)); do
			run "$round" "$load" "${order[(i + round - 1) % ${#order[@]}]}"
		done
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# median reads numbers, one per line, and prints their median.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# column LOAD SERVER EXPR prints EXPR (awk, over rps ok cpu rd wr) per run.
column() {
	awk -F'\t' -v l="$1" -v s="$2" "\$2 == l && \$3 == s { rps = \$4; ok = \$5; cpu = \$6; rd = \$7; wr = \$8; print $3 }" "$results"
}

echo
echo "GET /, h2c prior knowledge; medians of $ROUNDS rounds x ${DURATION}s; $placement"
printf '%-7s %-8s %10s %12s %10s %10s\n' load server req/s req/CPU-s reads/req writes/req
for load in $LOADS; do
	for s in $SERVERS; do
		printf '%-7s %-8s %10.0f %12.0f %10.3f %10.3f\n' "$load" "$s" \
			"$(column "$load" "$s" rps | median)" "$(column "$load" "$s" '(cpu > 0 ? ok / cpu : 0)' | median)" \
			"$(column "$load" "$s" 'rd / ok' | median)" "$(column "$load" "$s" 'wr / ok' | median)"
	done
done
if [[ " $SERVERS " == *" h2 "* || " $SERVERS " == *" h2_1p "* ]]; then
	echo
	printf '%-7s %-20s %14s %16s\n' load ratio req/s req/CPU-s
	for load in $LOADS; do
		for top in h2 h2_1p; do
			[[ " $SERVERS " == *" $top "* ]] || continue
			for base in xnet xnet_1p nghttpd h2o; do
				[[ " $SERVERS " == *" $base "* ]] || continue
				awk -v l="$load" -v t="$top" -v b="$base" \
					-v hr="$(column "$load" "$top" rps | median)" -v br="$(column "$load" "$base" rps | median)" \
					-v he="$(column "$load" "$top" '(cpu > 0 ? ok / cpu : 0)' | median)" -v be="$(column "$load" "$base" '(cpu > 0 ? ok / cpu : 0)' | median)" \
					'BEGIN { printf "%-7s %-20s %14.2f %16.2f\n", l, t " / " b, (br > 0 ? hr / br : 0), (be > 0 ? he / be : 0) }'
			done
		done
	done
fi
