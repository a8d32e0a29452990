#!/usr/bin/env bash
# syscalls.sh counts the system calls of one WebSocket echo round trip
# (client and server together, one connection, BenchmarkEcho) under
# strace -f -c: read, write, writev, futex (a goroutine woken on another
# thread: a hand-off) and epoll_pwait, per round trip, for each server,
# transport and size. Counts do not depend on the machine's load, unlike
# times.
#
# Knobs (environment):
#   N        round trips per measurement (default 10000; the benchmark's
#            100 warm-up round trips are counted too)
#   SERVERS  servers (default "molt molt-h2 floor")
#   SIZES    sizes (default "16B 1KiB 64KiB")
set -euo pipefail

N=${N:-10000}
SERVERS=${SERVERS:-"molt molt-h2 floor"}
SIZES=${SIZES:-"16B 1KiB 64KiB"}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
work=$(mktemp -d "${TMPDIR:-/tmp}/molt-ws-sc.XXXXXX")
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/ws.test" .

echo "# syscalls.sh N=$N $(date -u +%FT%TZ); $(go version); molt at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '%-6s %-10s %-8s %7s %7s %7s %7s %7s\n' size proto server read write writev futex epoll
for size in $SIZES; do
	for proto in h1 h2c-prior; do
		for s in $SERVERS; do
			strace -f -c -o "$work/st.txt" -e trace=read,write,writev,futex,epoll_pwait \
				"$work/ws.test" -test.run '^$' -test.bench "^BenchmarkEcho\$/^proto=$proto\$/^size=$size\$/^server=$s\$" \
				-test.benchtime "${N}x" -test.cpu 2 >/dev/null 2>&1
			awk -v size="$size" -v proto="$proto" -v s="$s" -v n="$((N + 100))" '
				$NF ~ /^(read|write|writev|futex|epoll_pwait)$/ { c[$NF] = $4 }
				END { printf "%-6s %-10s %-8s %7.2f %7.2f %7.2f %7.2f %7.2f\n", size, proto, s,
					c["read"] / n, c["write"] / n, c["writev"] / n, c["futex"] / n, c["epoll_pwait"] / n }' "$work/st.txt"
		done
	done
done
