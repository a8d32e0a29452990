#!/usr/bin/env bash
# vs-h2load-side.sh compares the latency percentiles of `molt bench` and
# h2load run side by side: both at the same time, one connection each,
# against the same server (nghttpd and h2o, 5-byte file), so that both
# are measured under the same conditions of the machine.
#
# Why: vs-h2load-rate.sh runs the two one after the other, and on this
# shared machine the server's own time to answer (the "wire" clock of a
# capture, which belongs to neither tool) moves from run to run by more
# than the 20% the percentiles must agree within. Run together, the two
# clients' requests meet the same server at the same moments.
#
# Not quite the same moments: both send on a timetable of their own,
# h2load --rps ticking every 1/RATE, and two timetables of one period
# hold their phase. Then one client's requests reach the server just
# after the other's, for the whole run, and are answered faster or
# slower (docs/bench.md, stop 25: the wire p50 of one client 0.73 to
# 1.46 times the other's, with the same frames on the wire). So molt
# bench runs at a slightly different rate, MOLT_RATE (RATE - 3 by
# default): the phase sweeps through every value a few times a second,
# and each client meets every phase alike.
#
# One connection each, at RATE=100 requests/s: h2load's --rps timer fires
# at most every 10 ms and sends what came due, so above 100 per
# connection it sends bursts (see vs-h2load-rate.sh).
#
# Clocks: h2load's from --log-file (its request time: the HEADERS frame
# serialised before writev, to the stream's close) and molt bench's
# latency_from_send (the start of the write system call that carries the
# request, to the read that brought the response's end). CAPTURE=1 (the
# default; needs tcpdump) adds the wire clock of each client's own
# connection (pcaplatency.py --per-connection), and "client": own clock
# minus wire clock at the p50, what each client adds itself (its
# wake-up, reading, and the system call that sends).
#
# Placement: the server on CPU 1 (one thread), both clients on CPU 0.
# ROUNDS rounds, each DURATION seconds per server; the client that
# starts first alternates by round (the second starts 0.3 s later). The
# table has the medians over rounds, then each round's ratios.
#
# Knobs (environment): ROUNDS (6), DURATION (seconds, 15), RATE (100),
# MOLT_RATE (RATE - 3), SERVERS ("nghttpd h2o"), CAPTURE (1), KEEP=1
# keeps the raw output, MOLT_BIN=path runs that molt build, ANALYZE=dir
# prints the table of a kept run again (with the ROUNDS and SERVERS of
# that run).
set -euo pipefail

ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-15}
RATE=${RATE:-100}
MOLT_RATE=${MOLT_RATE:-$((RATE - 3))}
SERVERS=${SERVERS:-"nghttpd h2o"}
CAPTURE=${CAPTURE:-1}
KEEP=${KEEP:-0}
PIN=1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

if ((RATE > 100)); then
	echo "warning: $RATE requests/s on one connection: h2load's --rps sends bursts above 100 (see vs-h2load-rate.sh)" >&2
fi

summarize() { # the table, from the raw output in $work
	python3 - "$work" "$ROUNDS" $SERVERS <<'PY'
import json, statistics, sys
work, rounds, servers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
nan = float("nan")
def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else nan
def pct(v, q):  # the smallest value with at least q of the values at or below it
    return v[max(0, int(-(-len(v) * q // 1)) - 1)] if v else nan
def ratio(a, b):
    return a / b if b else nan
cols = ("requests", "p50 us", "p99 us", "wire p50", "wire p99", "client p50")
print(f"{'server':8} {'client':14}" + "".join(f" {c:>10}" for c in cols) + f"   (side by side, medians of {rounds} rounds)")
for s in servers:
    rows = {"h2load": [], "molt": []}
    for r in range(1, rounds + 1):
        base = f"{work}/{s}-{r}"
        first = open(base + ".first").read().split()
        lat = sorted(int(f[2]) for f in (l.split("\t") for l in open(base + ".h2load.log") if l.strip()) if f[1] != "-1")
        own = {"h2load": (len(lat), pct(lat, 0.5), pct(lat, 0.99))}
        rep = json.load(open(base + ".molt.json"))
        own["molt"] = (rep["requests"], rep["latency_from_send"]["p50_us"], rep["latency_from_send"]["p99_us"])
        wire = {c: (nan, nan) for c in rows}
        try:
            conns = [json.loads(l) for l in open(base + ".wire.txt")]
            conns = [c for c in conns if "connection" in c and c["count"] > 0]
            if len(conns) == 2:  # in the order they began: the first starter's first
                for name, c in zip(first, conns):
                    wire[name] = (c["p50_us"], c["p99_us"])
        except OSError:
            pass
        for c in rows:
            n, p50, p99 = own[c]
            rows[c].append((n, p50, p99) + wire[c] + (p50 - wire[c][0],))
    m = {c: [med(x[i] for x in rows[c]) for i in range(len(cols))] for c in rows}
    for c in rows:
        print(f"{s:8} {c:14}" + "".join(f" {v:10.0f}" for v in m[c]))
    print(f"{s:8} {'molt/h2load':14}" + "".join(f" {ratio(m['molt'][i], m['h2load'][i]):10.2f}" for i in range(len(cols))))
    for r in range(rounds):
        mo, h = rows["molt"][r], rows["h2load"][r]
        print(f"{s:8}   round {r + 1}: molt/h2load p50 {ratio(mo[1], h[1]):.2f} p99 {ratio(mo[2], h[2]):.2f}; "
              f"wire p50 {ratio(mo[3], h[3]):.2f} p99 {ratio(mo[4], h[4]):.2f}; client p50 {ratio(mo[5], h[5]):.2f}")
PY
}
if [[ -n ${ANALYZE:-} ]]; then
	work=$ANALYZE
	summarize
	exit 0
fi
need=(h2load nghttpd h2o taskset python3 go)
if [[ $CAPTURE == 1 ]]; then need+=(tcpdump); fi
for c in "${need[@]}"; do
	command -v "$c" >/dev/null || { echo "$c not found" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/molt-vs-h2load-side.XXXXXX")
pids=()
capture_pid=
trap c_bench_cleanup EXIT
start1() { c_start1 "$1"; }
c_bench_setup

run_h2load() { # server out
	"${client_pin[@]}" h2load -t 1 -c 1 -m 32 --rps "$RATE" -D "$DURATION" \
		--log-file="$logdir/h2load.log" "$(url "$1")" >"$2.h2load.txt" 2>&1
	mv "$logdir/h2load.log" "$2.h2load.log"
}
run_molt() { # server out
	"${client_pin[@]}" "$work/molt" bench -json -mode h2c -c 1 -m 32 -rate "$MOLT_RATE" -d "${DURATION}s" \
		"$(url "$1")" >"$2.molt.json" 2>"$2.molt.err"
}
echo "$placement; h2load at $RATE requests/s, molt bench at $MOLT_RATE, together; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
	for s in $SERVERS; do
		out="$work/$s-$r"
		capture_start "$s"
		if ((r % 2)); then
			echo "h2load molt" >"$out.first"
			run_h2load "$s" "$out" &
			a=$!
			sleep 0.3
			run_molt "$s" "$out" &
		else
			echo "molt h2load" >"$out.first"
			run_molt "$s" "$out" &
			a=$!
			sleep 0.3
			run_h2load "$s" "$out" &
		fi
		b=$!
		wait "$a"
		wait "$b"
		capture_stop "$s" "$out.wire.txt" --per-connection
	done
	echo "round $r/$ROUNDS done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
summarize
