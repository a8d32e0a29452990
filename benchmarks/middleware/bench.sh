#!/usr/bin/env bash
# bench.sh compares molt's middleware with chi's, echo's and gin-contrib's:
# BenchmarkStack (a typical stack per request) and BenchmarkCompress64K,
# with GOMAXPROCS=1, ROUNDS interleaved rounds (each round runs every
# stack and compressor once, in an order that rotates), then benchstat
# with the contenders in columns.
#
# Knobs (environment): ROUNDS (default 6), BENCHTIME (default 1s),
# OUT (raw output, default results/bench-<date>.txt).
set -euo pipefail

ROUNDS=${ROUNDS:-6}
BENCHTIME=${BENCHTIME:-1s}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
mkdir -p results
OUT=${OUT:-results/bench-$(date -u +%Y%m%dT%H%M%SZ).txt}
work=$(mktemp -d "${TMPDIR:-/tmp}/molt-mw.XXXXXX")
trap 'rm -rf "$work"' EXIT

go test -c -o "$work/mw.test" .
"$work/mw.test" -test.run . -test.count 1 >&2

runs=(
	"^BenchmarkStack$/^stack=molt$" "^BenchmarkStack$/^stack=chi$" "^BenchmarkStack$/^stack=echo$"
	"^BenchmarkCompress64K$/^compressor=molt-gzip$" "^BenchmarkCompress64K$/^compressor=chi-gzip$"
	"^BenchmarkCompress64K$/^compressor=gin-gzip$" "^BenchmarkCompress64K$/^compressor=molt-zstd$"
	"^BenchmarkCompress64K$/^compressor=molt-br$"
)
n=${#runs[@]}
{
	echo "# bench.sh ROUNDS=$ROUNDS BENCHTIME=$BENCHTIME $(date -u +%FT%TZ)"
	echo "# $(go version); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
	rev=$(git rev-parse --short HEAD 2>/dev/null || true)
	echo "# molt at ${rev:-unknown}"
} >"$OUT"
for ((round = 0; round < ROUNDS; round++)); do
	echo "# round $((round + 1))/$ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	for ((i = 0; i < n; i++)); do
		"$work/mw.test" -test.run '^$' -test.bench "${runs[(i + round) % n]}" \
			-test.cpu 1 -test.count 1 -test.benchtime "$BENCHTIME" -test.benchmem >>"$OUT"
	done
done
go run golang.org/x/perf/cmd/benchstat@latest -col '/stack@(molt chi echo)' -filter '.name:Stack' "$OUT" | tee "${OUT%.txt}.benchstat.txt"
go run golang.org/x/perf/cmd/benchstat@latest -col '/compressor@(molt-gzip chi-gzip gin-gzip molt-zstd molt-br)' -filter '.name:Compress64K' "$OUT" | tee -a "${OUT%.txt}.benchstat.txt"
echo "# raw output: $OUT; benchstat: ${OUT%.txt}.benchstat.txt (in $here)" >&2
