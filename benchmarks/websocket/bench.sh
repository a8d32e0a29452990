#!/usr/bin/env bash
# bench.sh compares WebSocket echo round trips of molt, gorilla/websocket
# and coder/websocket (and the floor, see floor.go): 16 B, 1 KiB and
# 64 KiB binary messages over HTTP/1.1, and molt (and the floor) over
# HTTP/2 with extended CONNECT: "molt" on x/net's HTTP/2 engine,
# "molt-h2" on molt's own (package h2, the default). BenchmarkEcho
# measures latency, one round trip at a time on one connection;
# BenchmarkEchoConcurrent measures
# throughput, 16 connections at once, where what a server costs per
# message shows.
#
# It builds the test binary once, runs the tests (TestEcho: every server
# echoes every size byte for byte; TestClientAllocs: the client allocates
# nothing, so allocs/op are the server's), then ROUNDS rounds: in each,
# every server's benchmarks run once (-count 1), in an order that rotates
# from round to round, so that a burst of load on this shared machine does
# not land on one server. benchstat reads all of it with the servers in
# columns; a markdown table of the medians follows.
#
# GOMAXPROCS is 2 (-cpu 2) by default: client and server are separate
# parties, each with a CPU of its own as on a real network, and the round
# trip is sequential, so a second P adds no parallelism a server could
# profit from unevenly. (CPU=1 gives figures within 1% of these on this
# machine: a round trip is bound by the loopback and the wake-ups, not by
# how many Ps there are.)
#
# Knobs (environment):
#   ROUNDS     rounds (default 6, benchstat's -count 6)
#   BENCHTIME  -test.benchtime of each run (default 1s)
#   CPU        -test.cpu (default 2)
#   SERVERS    servers, in the first round's order
#              (default "molt molt-h2 gorilla coder floor")
#   OUT        raw output file (default results/bench-<date>.txt)
#
# With the defaults it takes about 8 minutes.
set -euo pipefail

ROUNDS=${ROUNDS:-6}
BENCHTIME=${BENCHTIME:-1s}
CPU=${CPU:-2}
SERVERS=${SERVERS:-"molt molt-h2 gorilla coder floor"}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
mkdir -p results
OUT=${OUT:-results/bench-$(date -u +%Y%m%dT%H%M%SZ).txt}

work=$(mktemp -d "${TMPDIR:-/tmp}/molt-ws.XXXXXX")
trap 'rm -rf "$work"' EXIT

go test -c -o "$work/ws.test" .
echo "# tests (TestEcho, TestClientAllocs) ..." >&2
"$work/ws.test" -test.run . -test.count 1 >&2

read -r -a servers <<<"$SERVERS"
n=${#servers[@]}
{
	echo "# bench.sh ROUNDS=$ROUNDS BENCHTIME=$BENCHTIME CPU=$CPU $(date -u +%FT%TZ)"
	echo "# $(go version); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
	if rev=$(git rev-parse --short HEAD 2>/dev/null); then
		dirty=$(git status --porcelain -- ../../websocket ../../server ../../h2 ../../h2client ../../internal .)
		echo "# molt at $rev${dirty:+, with uncommitted changes:}"
		[[ -z $dirty ]] || sed 's/^/#   /' <<<"$dirty"
	fi
} >"$OUT"
for ((round = 0; round < ROUNDS; round++)); do
	order=()
	for ((i = 0; i < n; i++)); do
		order+=("${servers[(i + round) % n]}")
	done
	echo "# round $((round + 1))/$ROUNDS: ${order[*]} (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	for s in "${order[@]}"; do
		"$work/ws.test" -test.run '^$' -test.bench "^BenchmarkEcho(Concurrent)?\$/^proto=/^size=/^server=$s\$" \
			-test.cpu "$CPU" -test.count 1 -test.benchtime "$BENCHTIME" -test.benchmem >>"$OUT"
	done
done
echo "# raw output: $OUT (in $here)" >&2

# medians prints a markdown table of the medians of benchmark $1 in $OUT:
# a row per transport and size, a column per server, "µs per round trip,
# round trips per second, allocs per message" in each cell.
medians() {
	awk -v bench="$1" '$1 ~ "^" bench "/.*/server=" {
		split($1, p, "/")
		row = p[2] " " p[3]; sub(/proto=/, "", row); sub(/size=/, "", row)
		s = p[4]; sub(/^server=/, "", s); sub(/-[0-9]+$/, "", s)
		for (i = 3; i < NF; i += 2) {
			if ($(i+1) == "ns/op") print row, s, "ns", $i
			if ($(i+1) == "allocs/op") print row, s, "allocs", $i
		}
	}' "$OUT" | sort -k1,1 -k2,2 -k3,3 -k4,4 -k5,5g | awk -v servers="$SERVERS" '
	{
		r = $1 " " $2; k = r SUBSEP $3 SUBSEP $4
		v[k, ++c[k]] = $5
		seen[r] = 1
	}
	function median(k,   m) {
		m = c[k]
		if (m % 2) return v[k, (m + 1) / 2]
		return (v[k, m / 2] + v[k, m / 2 + 1]) / 2
	}
	END {
		ns = split(servers, ss, " ")
		nr = split("h1 16B,h1 1KiB,h1 64KiB,h2c-prior 16B,h2c-prior 1KiB,h2c-prior 64KiB", rs, ",")
		line = "| transport, size |"; sep = "|---|"
		for (i = 1; i <= ns; i++) { line = line " " ss[i] " |"; sep = sep "---|" }
		print line; print sep
		for (j = 1; j <= nr; j++) {
			r = rs[j]
			if (!(r in seen)) continue
			line = "| " r " |"
			for (i = 1; i <= ns; i++) {
				k = r SUBSEP ss[i]
				if (c[k SUBSEP "ns"] == 0) { line = line " – |"; continue }
				t = median(k SUBSEP "ns")
				line = line sprintf(" %.2f µs, %.0f rt/s, %g allocs |", t / 1000, 1e9 / t, median(k SUBSEP "allocs"))
			}
			print line
		}
	}'
}

summary=${OUT%.txt}.benchstat.txt
{
	go run golang.org/x/perf/cmd/benchstat@latest -row '.name /proto /size' -col "/server@($SERVERS)" "$OUT"
	echo
	echo "BenchmarkEcho, one connection: medians of $ROUNDS runs (GOMAXPROCS=$CPU): time per round trip, round trips per second, allocations per message"
	echo
	medians BenchmarkEcho
	echo
	echo "BenchmarkEchoConcurrent, 16 connections: medians of $ROUNDS runs (GOMAXPROCS=$CPU): time per round trip (all connections together), round trips per second, allocations per message"
	echo
	medians BenchmarkEchoConcurrent
} | tee "$summary"
echo "# benchstat and medians: $summary (in $here)" >&2
