#!/usr/bin/env bash
# builds.sh compares `molt serve -quiet -engine $ENGINE` built at two or
# more git revisions of this repository, side by side in one run, under
# h2load: the measure of one change on a machine that others load too.
#
#   ./builds.sh 3152386 HEAD                 # unpinned, -c 8 -m 32
#   PIN=1 ./builds.sh 3152386 HEAD           # servers on CPU 1, h2load on CPU 0
#   ARGS="-c 100 -m 1" ROUNDS=7 ./builds.sh A B C
#
# Each round runs every build once, for DURATION seconds (after a
# 1-second unrecorded warm-up on a fresh server), in an order that
# rotates from round to round (the build run first in a round measured
# 8 to 10% faster, whichever it was, at stop 23), and
# records requests/s, requests per server CPU-second (utime+stime from
# /proc/PID/stat) and read and write system calls per request
# (/proc/PID/io). It prints every run, then the medians per build.
#
# Knobs: ROUNDS (default 5), DURATION (default 3), ARGS (h2load's load,
# default "-c 8 -m 32"), ENGINE (default h2), PIN (default 0).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3}
ARGS=${ARGS:-"-c 8 -m 32"}
ENGINE=${ENGINE:-h2}
PIN=${PIN:-0}
(($# >= 1)) || {
	echo "usage: $0 REV [REV...]" >&2
	exit 2
}
command -v h2load >/dev/null || {
	echo "h2load not found (Debian: apt-get install nghttp2-client)" >&2
	exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
repo=$(cd "$here/.." && git rev-parse --show-toplevel)
work=$(mktemp -d "${TMPDIR:-/tmp}/molt-builds.XXXXXX")
pid=
cleanup() {
	if [[ -n $pid ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

names=()
for rev in "$@"; do
	name=$(git -C "$repo" rev-parse --short "$rev")
	mkdir "$work/src-$name"
	git -C "$repo" archive "$rev" | tar -x -C "$work/src-$name"
	echo "building $rev ($name)"
	(cd "$work/src-$name" && go build -o "$work/molt-$name" ./cmd/molt)
	names+=("$name")
done

pin_setup h2load

# start_build NAME starts build NAME on a free port, sets pid and port.
start_build() {
	local try i
	for ((try = 1; try <= 5; try++)); do
		port=$(free_port)
		"${server_pin[@]}" "$work/molt-$1" serve -addr "127.0.0.1:$port" -quiet -engine "$ENGINE" >"$work/server.out" 2>&1 &
		pid=$!
		for ((i = 0; i < 100; i++)); do
			if h2load -n 1 "http://127.0.0.1:$port/" 2>/dev/null | grep -q '^requests: 1 total.* 1 succeeded'; then
				return
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	echo "build $1 did not start:" >&2
	cat "$work/server.out" >&2
	exit 1
}

results="$work/results.tsv"
: >"$results"
echo "h2load $ARGS, $ROUNDS rounds of ${DURATION}s, engine $ENGINE, PIN=$PIN; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((round = 1; round <= ROUNDS; round++)); do
	order=()
	for ((i = 0; i < ${#names[@]}; i++)); do
		order+=("${names[(i + round - 1) % ${#names[@]}]}")
	done
	for name in "${order[@]}"; do
		start_build "$name"
		# shellcheck disable=SC2086
		"${client_pin[@]}" h2load $ARGS -D 1 "http://127.0.0.1:$port/" >/dev/null 2>&1
		read -r c0 r0 w0 < <(counters "$pid")
		# shellcheck disable=SC2086
		"${client_pin[@]}" h2load $ARGS -D "$DURATION" "http://127.0.0.1:$port/" >"$work/h2load.out" 2>&1
		read -r c1 r1 w1 < <(counters "$pid")
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		pid=
		rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$work/h2load.out")
		ok=$(awk '/^requests:/ { print $8 }' "$work/h2load.out")
		if [[ -z $rps || -z $ok || $ok == 0 ]]; then
			echo "could not parse h2load output for $name round $round:" >&2
			cat "$work/h2load.out" >&2
			exit 1
		fi
		awk -v r="$round" -v n="$name" -v rps="$rps" -v ok="$ok" -v c=$((c1 - c0)) -v t="$clk_tck" -v rd=$((r1 - r0)) -v wr=$((w1 - w0)) 'BEGIN {
			cpu = c / t
			printf "%d\t%s\t%.0f\t%.0f\t%.3f\t%.3f\n", r, n, rps, (cpu > 0 ? ok / cpu : 0), rd / ok, wr / ok
		}' | tee -a "$results" | awk -F'\t' '{ printf "  round %d  %-10s %8d req/s  %8d req/CPU-s  %.3f reads/req  %.3f writes/req\n", $1, $2, $3, $4, $5, $6 }'
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
printf '%-10s %10s %12s %10s %10s\n' build req/s req/CPU-s reads/req writes/req
for name in "${names[@]}"; do
	col() { awk -F'\t' -v n="$name" -v c="$1" '$2 == n { print $c }' "$results" | median; }
	printf '%-10s %10.0f %12.0f %10.3f %10.3f\n' "$name" "$(col 3)" "$(col 4)" "$(col 5)" "$(col 6)"
done
