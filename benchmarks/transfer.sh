#!/usr/bin/env bash
# transfer.sh compares molt's two HTTP/2 engines on large bodies and on
# the upgrade load, in one run: `molt serve -quiet -engine h2`, `molt serve
# -quiet -engine xnet`, and nghttpd and h2o as anchors where they can serve
# the same thing.
#
# Loads (LOADS):
#
#   download       h2load -n DL_N -c 1, GET /bytes/1073741824: 1 GiB on one
#                  stream, DL_N of them one after another on one
#                  connection, prior knowledge. nghttpd and h2o serve a
#                  1 GiB file at the same path.
#   upload         h2load -n UP_N -c 1 -d FILE, POST /echo with a 64 MiB
#                  body (UP_SIZE) that the handler streams back: 64 MiB up
#                  and 64 MiB down at once on one stream. h2 and xnet only
#                  (the C servers cannot echo).
#   upgrade        molt bench -mode h2c-upgrade -c 8 -m 32, GET /: each of
#                  the 8 connections starts with "Upgrade: h2c" (101), then
#                  multiplexes 32 streams. h2, xnet and h2o (nghttpd has no
#                  Upgrade on cleartext).
#   upgrade-every  molt bench -mode h2c-upgrade -upgrade-every -c 8, GET /:
#                  every request a fresh connection, upgraded (the
#                  handshake). h2, xnet and h2o.
#
# h2load is the client of the transfers: it discards what it receives,
# reads the upload from a file in the page cache, and opens its windows to
# 2^30-1 (-w 30 -W 30, its defaults), so the server's flow control is the
# only one in the way; its own CPU time per GiB is printed beside the
# server's, to show that it is not the bottleneck. h2load cannot send
# Upgrade, so the upgrade loads use molt bench (docs/bench.md).
#
# It runs ROUNDS interleaved rounds (the order of the servers rotates each
# round) after one unrecorded warm-up of every load on every server, and
# records per run the client's throughput (body bytes over h2load's own
# "finished in" time; for the upgrade loads molt bench's requests/s), the
# server's CPU time (utime+stime from /proc/PID/stat), its read and write
# system calls (syscr, syscw from /proc/PID/io) and the client's CPU time.
# It prints per load the median of each over the rounds, per server, and
# the ratios of the medians: h2 / xnet, h2 / nghttpd, h2 / h2o.
#
# PIN=1 (the default) pins every server to CPU 1 (the Go servers then run
# with GOMAXPROCS=1; h2o runs with one thread) and the client to CPU 0.
# PIN=0 pins nothing: servers and client share both CPUs, the Go servers
# run with GOMAXPROCS=nproc and h2o with nproc threads.
#
#   ./transfer.sh                         # pinned
#   PIN=0 ./transfer.sh                   # unpinned
#   ROUNDS=3 LOADS="download upload" SERVERS="h2 xnet" ./transfer.sh
#
# Knobs (environment): ROUNDS (default 5), LOADS (default "download upload
# upgrade upgrade-every"), SERVERS (default "h2 xnet nghttpd h2o"), PIN
# (default 1), DL_N (downloads per run, default 2), UP_N (uploads per run,
# default 8), UP_SIZE (bytes per upload, default 67108864), DURATION
# (seconds per upgrade run, default 5), KEEP=1 keeps the temporary
# directory (with the raw output), PROFILE=1 writes a CPU profile of each
# molt server over the whole script (h2.prof, xnet.prof there; implies
# KEEP=1). The temporary directory, with the 1 GiB file and the upload, is
# made under TMPDIR (default /tmp).
#
# MOLT_B=path adds a server h2b: the molt binary at path (another build,
# say of the commit before an engine change) serving with -engine h2,
# measured beside the others and compared with h2 (h2 / h2b):
#
#   git stash && go build -o /tmp/molt-before ./cmd/molt && git stash pop
#   MOLT_B=/tmp/molt-before SERVERS="h2 h2b xnet" LOADS=upload ./transfer.sh
set -euo pipefail

ROUNDS=${ROUNDS:-5}
LOADS=${LOADS:-"download upload upgrade upgrade-every"}
SERVERS=${SERVERS:-"h2 xnet nghttpd h2o"}
PIN=${PIN:-1}
DL_N=${DL_N:-2}
UP_N=${UP_N:-8}
UP_SIZE=${UP_SIZE:-67108864}
DURATION=${DURATION:-5}
KEEP=${KEEP:-0}
PROFILE=${PROFILE:-0}
[[ $PROFILE == 1 ]] && KEEP=1
DL_SIZE=1073741824

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
need python3 "Debian: apt-get install python3"
for s in $SERVERS; do
	case $s in
	nghttpd) need nghttpd "Debian: apt-get install nghttp2-server" ;;
	h2o) need h2o "Debian: apt-get install h2o" ;;
	h2 | xnet) ;;
	h2b)
		[[ -x ${MOLT_B:-} ]] || {
			echo "server h2b needs MOLT_B, the path of a molt binary" >&2
			exit 2
		}
		;;
	*)
		echo "unknown server $s (want h2, xnet, nghttpd, h2o, h2b)" >&2
		exit 2
		;;
	esac
done
for l in $LOADS; do
	case $l in
	download | upload | upgrade | upgrade-every) ;;
	*)
		echo "unknown load $l (want download, upload, upgrade, upgrade-every)" >&2
		exit 2
		;;
	esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/molt-transfer.XXXXXX")
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
		rm -f "$work/www/bytes/$DL_SIZE" "$work/upload.bin"
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
if [[ " $SERVERS " == *" h2b "* ]]; then
	cp "$MOLT_B" "$work/molt-b"
fi
mkdir -p "$work/www/bytes"
chmod 755 "$work" "$work/www" "$work/www/bytes" # h2o run as root serves files as nobody
printf hello >"$work/www/index.html"
if [[ " $LOADS " == *" download "* ]]; then
	# Real blocks, not a sparse file, and read once so it is in the page cache.
	head -c "$DL_SIZE" /dev/zero | tr '\0' 'm' >"$work/www/bytes/$DL_SIZE"
	chmod 644 "$work/www/bytes/$DL_SIZE"
fi
if [[ " $LOADS " == *" upload "* ]]; then
	head -c "$UP_SIZE" /dev/urandom >"$work/upload.bin"
fi

pin_setup client

# start1 NAME (for lib.sh's start) starts server NAME on a free port and
# waits until it answers; it sets port_NAME and pid_NAME.
start1() {
	local name=$1 port prof=()
	port=$(free_port)
	case $name in
	h2 | xnet)
		[[ $PROFILE == 1 ]] && prof=(-cpuprofile "$work/$name.prof")
		"${server_pin[@]}" "$work/molt" serve -addr "127.0.0.1:$port" -quiet -engine "$name" "${prof[@]}" \
			>"$work/$name.out" 2>&1 &
		;;
	h2b)
		"${server_pin[@]}" "$work/molt-b" serve -addr "127.0.0.1:$port" -quiet -engine h2 >"$work/$name.out" 2>&1 &
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

# serves LOAD SERVER reports whether SERVER can take part in LOAD.
serves() {
	case $1/$2 in
	upload/nghttpd | upload/h2o) return 1 ;; # no echo
	upgrade*/nghttpd) return 1 ;;            # no Upgrade: h2c on cleartext
	esac
	[[ " $SERVERS " == *" $2 "* ]]
}

# client LOAD PORT OUT runs the client of LOAD against PORT, its output
# in OUT (stderr in OUT.err) and its CPU seconds (user+system) in OUT.cpu.
client() {
	local load=$1 port=$2 out=$3 TIMEFORMAT='%3U %3S'
	local url="http://127.0.0.1:$port"
	local cmd
	case $load in
	download) cmd=(h2load -n "$DL_N" -c 1 "$url/bytes/$DL_SIZE") ;;
	upload) cmd=(h2load -n "$UP_N" -c 1 -d "$work/upload.bin" "$url/echo") ;;
	upgrade) cmd=("$work/molt" bench -json -mode h2c-upgrade -c 8 -m 32 -d "${DURATION}s" "$url/") ;;
	upgrade-every) cmd=("$work/molt" bench -json -mode h2c-upgrade -upgrade-every -c 8 -d "${DURATION}s" "$url/") ;;
	esac
	{ time "${client_pin[@]}" "${cmd[@]}" >"$out" 2>"$out.err"; } 2>"$out.cpu"
}

# parse LOAD OUT prints "units ok failed seconds" of a client's output:
# units are body bytes for the transfers, requests for the upgrade loads.
parse() {
	case $1 in
	download | upload)
		awk -v want="$([[ $1 == download ]] && echo $((DL_N * DL_SIZE)) || echo $((UP_N * UP_SIZE)))" '
			/^finished in/ { t = $3; sub(",", "", t); s = t + 0; if (t ~ /ms$/) s /= 1000; else if (t ~ /us$/) s /= 1e6 }
			/^requests:/ { ok = $8; bad = $10 + $12 + $14 }
			/^traffic:/ { for (i = 1; i <= NF; i++) if ($i == "data") { d = $(i - 1); gsub(/[()]/, "", d) } }
			END { if (d != want) bad++; printf "%s %d %d %.6f\n", d, ok, bad, s }' "$2"
		;;
	*)
		python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
bad = r["errors"] + sum(v for k, v in r["status"].items() if not 200 <= int(k) < 300)
print(r["requests"], r["requests"], bad, r["elapsed_s"])' "$2"
		;;
	esac
}

results="$work/results.tsv"
: >"$results"

# run ROUND LOAD SERVER runs one measured load and appends "round load
# server units ok failed seconds server_cpu client_cpu reads writes" to
# $results.
run() {
	local round=$1 load=$2 server=$3
	local port_var="port_$server" pid_var="pid_$server"
	local port=${!port_var} pid=${!pid_var} out="$work/$load.$server.$round.txt"
	local c0 r0 w0 c1 r1 w1
	read -r c0 r0 w0 < <(counters "$pid")
	if ! client "$load" "$port" "$out"; then
		echo "client failed for $load/$server round $round:" >&2
		cat "$out" "$out.err" >&2
		exit 1
	fi
	read -r c1 r1 w1 < <(counters "$pid")
	local units ok bad secs ccpu cpu
	if ! read -r units ok bad secs < <(parse "$load" "$out") || [[ -z $secs || $ok == 0 ]]; then
		echo "could not parse the client's output for $load/$server round $round:" >&2
		cat "$out" "$out.err" >&2
		exit 1
	fi
	((bad == 0)) || echo "warning: $load/$server round $round: $bad requests failed or came short" >&2
	ccpu=$(awk '{ print $1 + $2 }' "$out.cpu")
	cpu=$(awk -v a="$c0" -v b="$c1" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$load" "$server" "$units" "$ok" "$bad" "$secs" "$cpu" "$ccpu" \
		"$((r1 - r0))" "$((w1 - w0))" >>"$results"
	case $load in
	download | upload)
		awk -v r="$round" -v l="$load" -v s="$server" -v u="$units" -v t="$secs" -v cpu="$cpu" -v cc="$ccpu" -v rd="$((r1 - r0))" -v wr="$((w1 - w0))" 'BEGIN {
			g = u / 2^30; m = u / 2^20
			printf "  round %d  %-13s %-8s %8.0f MiB/s  %5.2fs  server %.3f CPU-s/GiB  client %.3f CPU-s/GiB  %.1f reads/MiB  %.1f writes/MiB\n", r, l, s, m / t, t, cpu / g, cc / g, rd / m, wr / m
		}'
		;;
	*)
		awk -v r="$round" -v l="$load" -v s="$server" -v u="$units" -v t="$secs" -v cpu="$cpu" -v cc="$ccpu" -v rd="$((r1 - r0))" -v wr="$((w1 - w0))" 'BEGIN {
			printf "  round %d  %-13s %-8s %10.0f req/s  server %9.0f req/CPU-s  client %9.0f req/CPU-s  %.3f reads/req  %.3f writes/req\n", r, l, s, u / t, (cpu > 0 ? u / cpu : 0), (cc > 0 ? u / cc : 0), rd / u, wr / u
		}'
		;;
	esac
}

echo "servers: $SERVERS; $placement"
echo "$ROUNDS rounds; loads: $LOADS (download: $DL_N x $DL_SIZE bytes per run; upload: $UP_N x $UP_SIZE bytes; upgrade loads: ${DURATION}s)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for load in $LOADS; do
	for s in $SERVERS; do
		serves "$load" "$s" || continue
		port_var="port_$s"
		client "$load" "${!port_var}" "$work/warmup.$load.$s.txt" || {
			echo "warm-up of $load/$s failed:" >&2
			cat "$work/warmup.$load.$s.txt" "$work/warmup.$load.$s.txt.err" >&2
			exit 1
		}
	done
done
read -r -a order <<<"$SERVERS"
for ((round = 1; round <= ROUNDS; round++)); do
	for load in $LOADS; do
		for ((i = 0; i < ${#order[@]}; i++)); do
			s=${order[(i + round - 1) % ${#order[@]}]}
			serves "$load" "$s" || continue
			run "$round" "$load" "$s"
		done
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# median reads numbers, one per line, and prints their median.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# column LOAD SERVER EXPR prints EXPR (awk, over u ok bad t cpu cc rd wr)
# per run.
column() {
	awk -F'\t' -v l="$1" -v s="$2" "\$2 == l && \$3 == s { u = \$4; ok = \$5; bad = \$6; t = \$7; cpu = \$8; cc = \$9; rd = \$10; wr = \$11; print $3 }" "$results"
}

# figures LOAD sets f_tp, f_sc, f_cc, f_rd, f_wr to the figures of LOAD as
# awk expressions over one run (throughput, server cost, client cost,
# reads, writes), units to their units and cost to the format of the
# costs.
figures() {
	case $1 in
	download | upload)
		f_tp='u / 2^20 / t' f_sc='(cpu > 0 ? cpu / (u / 2^30) : 0)' f_cc='(cc > 0 ? cc / (u / 2^30) : 0)'
		f_rd='rd / (u / 2^20)' f_wr='wr / (u / 2^20)'
		units=("MiB/s" "CPU-s/GiB" "CPU-s/GiB" "/MiB") cost='%.3f'
		;;
	*)
		f_tp='u / t' f_sc='(cpu > 0 ? u / cpu : 0)' f_cc='(cc > 0 ? u / cc : 0)' f_rd='rd / u' f_wr='wr / u'
		units=("req/s" "req/CPU-s" "req/CPU-s" "/req") cost='%.0f'
		;;
	esac
}

echo
echo "medians of $ROUNDS rounds; $placement"
printf '%-13s %-8s %12s %16s %16s %10s %10s %7s\n' load server throughput server-cost client-cost reads writes failed
for load in $LOADS; do
	figures "$load"
	for s in $SERVERS; do
		serves "$load" "$s" || continue
		printf '%-13s %-8s %12.0f %16s %16s %10.3f %10.3f %7d   (%s, server %s, client %s, reads and writes %s)\n' "$load" "$s" \
			"$(column "$load" "$s" "$f_tp" | median)" \
			"$(printf "$cost" "$(column "$load" "$s" "$f_sc" | median)")" \
			"$(printf "$cost" "$(column "$load" "$s" "$f_cc" | median)")" \
			"$(column "$load" "$s" "$f_rd" | median)" "$(column "$load" "$s" "$f_wr" | median)" \
			"$(column "$load" "$s" bad | awk '{ n += $1 } END { print n + 0 }')" \
			"${units[0]}" "${units[1]}" "${units[2]}" "${units[3]}"
	done
done
if [[ " $SERVERS " == *" h2 "* ]]; then
	echo
	echo "ratios of the medians (server cost: for the transfers h2's CPU-s/GiB over the other's, so below 1 is cheaper; for the upgrade loads req/CPU-s, above 1 is cheaper)"
	printf '%-13s %-16s %12s %14s\n' load ratio throughput server-cost
	for load in $LOADS; do
		figures "$load"
		for base in xnet h2b nghttpd h2o; do
			serves "$load" "$base" || continue
			awk -v l="$load" -v b="$base" \
				-v ht="$(column "$load" h2 "$f_tp" | median)" -v bt="$(column "$load" "$base" "$f_tp" | median)" \
				-v hc="$(column "$load" h2 "$f_sc" | median)" -v bc="$(column "$load" "$base" "$f_sc" | median)" \
				'BEGIN { printf "%-13s %-16s %12.2f %14.2f\n", l, "h2 / " b, (bt > 0 ? ht / bt : 0), (bc > 0 ? hc / bc : 0) }'
		done
	done
fi
