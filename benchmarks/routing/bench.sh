#!/usr/bin/env bash
# bench.sh runs the router benchmarks of this package with GOMAXPROCS=1
# (-cpu 1), interleaving the routers, and compares them with benchstat.
#
# `go test -bench X -count 6` runs the six rounds of one router back to
# back, then the next router's, so a burst of load on a shared machine
# lands on one router. This script builds the test binary once, checks that
# the routers match every route (the tests), then runs ROUNDS rounds; in
# each round it runs every router's benchmarks once (-count 1), in an order
# that rotates from round to round. All the output goes to one file, which
# benchstat reads with the routers in columns (the sub-benchmarks are named
# router=<name> for that).
#
# Then it prints benchstat's tables (sec/op, B/op, allocs/op, each router
# against gin) and a markdown table of the medians, and saves them next to
# the raw output (<OUT without .txt>.benchstat.txt).
#
# Knobs (environment):
#   ROUNDS     rounds (default 6, benchstat's -count 6)
#   BENCHTIME  -test.benchtime of each run (default 1s)
#   ROUTERS    routers, in the first round's order (default
#              "gin echo httprouter chi servemux molt none"; "none" is the
#              no-router baseline of the *FreshRequest benchmarks)
#   BENCH      top-level benchmark regexp (default: all of them)
#   OUT        raw output file (default results/bench-<date>.txt)
#   PIN        CPU to pin the benchmark to with taskset, or "" for none
#              (default none: on a shared machine a pinned CPU can be the
#              busy one)
#
# With the defaults it takes about 10 minutes.
set -euo pipefail

ROUNDS=${ROUNDS:-6}
BENCHTIME=${BENCHTIME:-1s}
ROUTERS=${ROUTERS:-"gin echo httprouter chi servemux molt none"}
BENCH=${BENCH:-'^Benchmark(StaticAll|GithubAll|GPlusAll|ParseAll|Param|Param5|Param20|GithubParam|ParamFreshRequest|GithubAllFreshRequest)$'}
PIN=${PIN:-}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
mkdir -p results
OUT=${OUT:-results/bench-$(date -u +%Y%m%dT%H%M%SZ).txt}

work=$(mktemp -d "${TMPDIR:-/tmp}/molt-routing.XXXXXX")
trap 'rm -rf "$work"' EXIT

go test -c -o "$work/routing.test" .
run=("$work/routing.test")
if [[ -n $PIN ]]; then
	run=(taskset -c "$PIN" "${run[@]}")
fi

echo "# tests (TestRoutersMatchEveryRoute and the others) ..." >&2
"${run[@]}" -test.run . -test.count 1 >&2

read -r -a routers <<<"$ROUTERS"
n=${#routers[@]}
: >"$OUT"
{
	echo "# bench.sh ROUNDS=$ROUNDS BENCHTIME=$BENCHTIME PIN=$PIN $(date -u +%FT%TZ)"
	echo "# $(go version); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
	if rev=$(git rev-parse --short HEAD 2>/dev/null); then
		dirty=$(git status --porcelain -- ../../router)
		echo "# molt at $rev${dirty:+, with uncommitted changes in router/:}"
		[[ -z $dirty ]] || sed 's/^/#   /' <<<"$dirty"
	fi
} >>"$OUT"
for ((round = 0; round < ROUNDS; round++)); do
	order=()
	for ((i = 0; i < n; i++)); do
		order+=("${routers[(i + round) % n]}")
	done
	echo "# round $((round + 1))/$ROUNDS: ${order[*]} (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	for r in "${order[@]}"; do
		"${run[@]}" -test.run '^$' -test.bench "$BENCH/^router=$r\$" \
			-test.cpu 1 -test.count 1 -test.benchtime "$BENCHTIME" -test.benchmem >>"$OUT"
	done
done
echo "# raw output: $OUT (in $here)" >&2

# medians prints a markdown table of the medians in $OUT: a row per
# benchmark, a column per router, "time, B, allocs" in each cell.
medians() {
	awk '$1 ~ /^Benchmark.*\/router=/ && $4 == "ns/op" {
		split($1, p, "/router=")
		b = p[1]; sub(/^Benchmark/, "", b); sub(/-[0-9]+$/, "", p[2])
		print b, p[2], "ns", $3
		print b, p[2], "B", $5
		print b, p[2], "allocs", $7
	}' "$OUT" | sort -k1,1 -k2,2 -k3,3 -k4,4g | awk -v routers="$ROUTERS" '
	{
		k = $1 SUBSEP $2 SUBSEP $3
		v[k, ++c[k]] = $4
		seen[$1] = 1
	}
	function median(k,   m) {
		m = c[k]
		if (m % 2) return v[k, (m + 1) / 2]
		return (v[k, m / 2] + v[k, m / 2 + 1]) / 2
	}
	function fmtns(x) {
		if (x >= 1000) return sprintf("%.1f µs", x / 1000)
		return sprintf("%.1f ns", x)
	}
	END {
		nr = split(routers, rs, " ")
		nb = split("StaticAll GithubAll GPlusAll ParseAll Param Param5 Param20 GithubParam ParamFreshRequest GithubAllFreshRequest", bs, " ")
		line = "| benchmark |"; sep = "|---|"
		for (i = 1; i <= nr; i++) { line = line " " rs[i] " |"; sep = sep "---|" }
		print line; print sep
		for (j = 1; j <= nb; j++) {
			b = bs[j]
			if (!(b in seen)) continue
			line = "| " b " |"
			for (i = 1; i <= nr; i++) {
				k = b SUBSEP rs[i]
				if (c[k SUBSEP "ns"] == 0) { line = line " |"; continue }
				line = line sprintf(" %s, %.0f B, %.0f allocs |", fmtns(median(k SUBSEP "ns")), median(k SUBSEP "B"), median(k SUBSEP "allocs"))
			}
			print line
		}
	}'
}

summary=${OUT%.txt}.benchstat.txt
{
	go run golang.org/x/perf/cmd/benchstat@latest -col "/router@($ROUTERS)" "$OUT"
	echo
	echo "Medians of $ROUNDS runs (GOMAXPROCS=1): ns/op, B/op, allocs/op"
	echo
	medians
} | tee "$summary"
echo "# benchstat and medians: $summary (in $here)" >&2
