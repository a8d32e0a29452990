#!/usr/bin/env bash
# cpu.sh measures the process's CPU time (user + system, client and
# server together) per WebSocket echo round trip, one connection
# (BenchmarkEcho), for each server, transport and size: ROUNDS
# interleaved rounds of N round trips, the median per case. CPU time is
# disturbed less than wall time by other load on a shared machine.
#
# Knobs (environment): N (20000), ROUNDS (3), SERVERS ("molt molt-h2"),
# SIZES ("16B 1KiB 64KiB").
set -euo pipefail

N=${N:-20000}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-"molt molt-h2"}
SIZES=${SIZES:-"16B 1KiB 64KiB"}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
work=$(mktemp -d "${TMPDIR:-/tmp}/molt-ws-cpu.XXXXXX")
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/ws.test" .

echo "# cpu.sh N=$N ROUNDS=$ROUNDS $(date -u +%FT%TZ); $(go version); molt at $(git rev-parse --short HEAD 2>/dev/null || echo '?'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
	for size in $SIZES; do
		for proto in h1 h2c-prior; do
			for s in $SERVERS; do
				/usr/bin/time -f "%U %S" -o "$work/t" "$work/ws.test" -test.run '^$' \
					-test.bench "^BenchmarkEcho\$/^proto=$proto\$/^size=$size\$/^server=$s\$" \
					-test.benchtime "${N}x" -test.cpu 2 >/dev/null
				awk -v k="$size $proto $s" -v n="$N" '{ printf "%s %.2f\n", k, ($1 + $2) / n * 1e6 }' "$work/t"
			done
		done
	done
done >"$work/all"
printf '%-6s %-10s %-8s %s\n' size proto server "CPU µs per round trip (median; all rounds)"
sort -k1,1 -k2,2 -k3,3 -k4,4g "$work/all" | awk '
	{ k = $1 " " $2 " " $3; v[k, ++c[k]] = $4; all[k] = all[k] " " $4; if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
	END {
		for (i = 1; i <= n; i++) {
			k = order[i]; m = c[k]
			med = (m % 2) ? v[k, (m + 1) / 2] : (v[k, m / 2] + v[k, m / 2 + 1]) / 2
			split(k, f, " ")
			printf "%-6s %-10s %-8s %6.2f  (%s )\n", f[1], f[2], f[3], med, all[k]
		}
	}'
