#!/usr/bin/env bash
# split.sh runs BenchmarkEcho (one connection, one round trip at a time)
# with the server in a process of its own (TestServe, split_test.go), so
# that what each side costs shows: for each server, transport and size,
# the time per round trip, and per round trip the CPU time and context
# switches of the client process and of the server process; with
# STRACE=1, a second pass counts each process's futex calls (a goroutine
# woken on another thread) under strace -f -c. In one process (bench.sh)
# client and server share one Go scheduler: over HTTP/1.1 the client's
# thread runs the server's goroutine when it parks, which two processes
# cannot do.
#
# Knobs (environment): N round trips (20000), ROUNDS (3, interleaved;
# medians), SERVERS ("molt-h2 floor"), SIZES ("16B 1KiB 64KiB"),
# PROTOS ("h1 h2c-prior"), CPU (GOMAXPROCS of each process, 2), STRACE.
set -euo pipefail

N=${N:-20000}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-"molt-h2 floor"}
SIZES=${SIZES:-"16B 1KiB 64KiB"}
PROTOS=${PROTOS:-"h1 h2c-prior"}
CPU=${CPU:-2}
STRACE=${STRACE:-}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
work=$(mktemp -d "${TMPDIR:-/tmp}/molt-ws-split.XXXXXX")
srvpid=
cleanup() {
	exec 3>&- 2>/dev/null || true
	[[ -z $srvpid ]] || wait "$srvpid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
go test -c -o "$work/ws.test" .
tck=$(getconf CLK_TCK)

# start_server NAME starts the server in its own process; sets srvpid and addr.
start_server() {
	rm -f "$work/in" "$work/out"
	mkfifo "$work/in"
	WSBENCH_SERVE=$1 GOMAXPROCS=$CPU "$work/ws.test" -test.run '^TestServe$' -test.cpu "$CPU" >"$work/out" 2>&1 <"$work/in" &
	srvpid=$!
	exec 3>"$work/in"
	addr=
	for ((i = 0; i < 100; i++)); do
		addr=$(sed -n 's/^addr=//p' "$work/out" 2>/dev/null || true)
		[[ -z $addr ]] || break
		sleep 0.1
	done
	[[ -n $addr ]] || { echo "server $1 did not start: $(cat "$work/out")" >&2; exit 1; }
}
stop_server() {
	exec 3>&-
	wait "$srvpid"
	srvpid=
}
# counters PID prints CPU ticks (user + system) and context switches
# (voluntary + involuntary, every thread) of PID.
counters() {
	local t
	t=$(awk '{ print $14 + $15 }' "/proc/$1/stat")
	cat /proc/"$1"/task/*/status | awk -v t="$t" '/^(voluntary|nonvoluntary)_ctxt_switches/ { c += $2 } END { print t, c }'
}
bench() { # proto size server: runs the client, prints ns/op
	WSBENCH_REMOTE=$addr "$work/ws.test" -test.run '^$' -test.bench "^BenchmarkEcho\$/^proto=$1\$/^size=$2\$/^server=$3\$" \
		-test.benchtime "${N}x" -test.cpu "$CPU" | awk '$1 ~ /^BenchmarkEcho/ { for (i = 2; i < NF; i++) if ($(i+1) == "ns/op") print $i }'
}

echo "# split.sh N=$N ROUNDS=$ROUNDS CPU=$CPU $(date -u +%FT%TZ); $(go version); molt at $(git rev-parse --short HEAD 2>/dev/null || echo '?'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
	for size in $SIZES; do
		for proto in $PROTOS; do
			for s in $SERVERS; do
				start_server "$s"
				read -r st0 sc0 < <(counters "$srvpid")
				/usr/bin/time -f "%U %S %w %c" -o "$work/t" bash -c "$(declare -f bench); work=$work N=$N CPU=$CPU addr=$addr; bench $proto $size $s" >"$work/ns"
				read -r st1 sc1 < <(counters "$srvpid")
				stop_server
				awk -v k="$size $proto $s" -v n="$N" -v tck="$tck" -v st=$((st1 - st0)) -v sc=$((sc1 - sc0)) -v ns="$(cat "$work/ns")" \
					'{ printf "%s %.2f %.2f %.2f %.2f %.2f\n", k, ns / 1000, ($1 + $2) / n * 1e6, st / tck / n * 1e6, ($3 + $4) / n, sc / n }' "$work/t"
			done
		done
	done
done >"$work/all"
printf '%-6s %-10s %-8s %9s %11s %11s %9s %9s\n' size proto server "µs/rt" "client CPU" "server CPU" "client cs" "server cs"
sort -k1,1 -k2,2 -k3,3 "$work/all" | awk '
	{ k = $1 " " $2 " " $3; if (!(k in seen)) { seen[k] = 1; order[++n] = k }; m[k]++; for (j = 4; j <= 8; j++) v[k, j, m[k]] = $j }
	function med(k, j,   a, i, c, t, x, y) {
		c = m[k]; for (i = 1; i <= c; i++) a[i] = v[k, j, i]
		for (x = 1; x <= c; x++) for (y = x + 1; y <= c; y++) if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
		return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
	}
	END { for (i = 1; i <= n; i++) { k = order[i]; split(k, f, " ")
		printf "%-6s %-10s %-8s %9.2f %11.2f %11.2f %9.2f %9.2f\n", f[1], f[2], f[3], med(k, 4), med(k, 5), med(k, 6), med(k, 7), med(k, 8) } }'
echo "(medians of $ROUNDS rounds; CPU in µs and context switches per round trip, each process; client figures include its start-up)"

[[ -n $STRACE ]] || exit 0
echo
echo "futex calls per round trip (strace -f -c, N=$N, one round)"
printf '%-6s %-10s %-8s %9s %9s\n' size proto server client server
for size in $SIZES; do
	for proto in $PROTOS; do
		for s in $SERVERS; do
			start_server "$s"
			strace -f -c -e trace=futex -o "$work/srv.st" -p "$srvpid" 2>/dev/null &
			stpid=$!
			sleep 1 # strace attaches to every thread
			strace -f -c -e trace=futex -o "$work/cli.st" bash -c "$(declare -f bench); work=$work N=$N CPU=$CPU addr=$addr; bench $proto $size $s" >/dev/null
			kill -INT "$stpid"
			wait "$stpid" || true
			stop_server
			f() { awk '$NF == "futex" { print $4 }' "$1"; }
			printf '%-6s %-10s %-8s %9.2f %9.2f\n' "$size" "$proto" "$s" "$(awk -v c="$(f "$work/cli.st")" -v n="$N" 'BEGIN { print c / n }')" "$(awk -v c="$(f "$work/srv.st")" -v n="$N" 'BEGIN { print c / n }')"
		done
	done
done
