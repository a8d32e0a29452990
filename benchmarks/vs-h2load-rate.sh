#!/usr/bin/env bash
# vs-h2load-rate.sh compares the latency percentiles of `molt bench` and
# h2load like for like: both send the same open-loop rate, below what the
# server and either client can do, to nghttpd and h2o (5-byte file).
#
# Why a fixed rate: h2load prints percentiles only from --log-file, whose
# write(2) per request, in a closed loop, runs between one response and
# the next request and shifts what its clock covers (see docs/bench.md,
# "Is molt bench the bottleneck?"). At a rate the client keeps up with,
# a request is sent when it is due whatever the client did before, so the
# log's cost is idle time spent differently, not latency. The script checks
# that: each round also runs h2load without the log, whose mean ("time for
# request") should match the logged run's.
#
# h2load's --rps timer fires at most every 10 ms (nghttp2 1.52,
# src/h2load.cc: `rps_watcher.repeat = std::max(0.01, 1. / config.rps)`)
# and then submits every request that came due, so above 100 requests/s
# per connection it sends bursts (at 2,500/s, 25 requests at once per
# connection) where molt bench sends one request at each due time: not
# the same load. The default, RATE=800 over CONNS=8, is 100/s per
# connection, one request per tick; but h2load's connections, set up
# together, tick together (8 requests at once, "bursty" about 0.9), where
# molt bench staggers its connections' timetables. The same load for both
# is one connection: CONNS=1 RATE=100 (docs/bench.md, stop 18). The
# script warns above 100 per connection.
#
# CAPTURE=1 adds a clock that belongs to neither tool: tcpdump on lo
# (pinned with the server) records every run, and pcaplatency.py times
# each stream from the packet that carried its HEADERS to the one that
# carried the server's END_STREAM; the "wire" columns are those
# percentiles, for each client's own traffic, and "bursty" the share of
# requests sent within 50 us of the one before them on any connection.
#
# Both clocks start at the write that sends a request (h2load: nghttp2
# serialising its HEADERS frame just before writev; molt bench:
# latency_from_send, the start of the write system call) and stop when
# the response's end is read. molt bench's own latency (from each
# request's due time, or its timer's wake; coordinated omission
# corrected) is shown too: minus from-send, it is the time requests
# waited in the client, for a free stream or behind their connection's
# timetable. h2load --rps is per client (connection): RATE/CONNS.
#
# Placement as vs-h2load.sh: servers on CPU 1 (one thread), clients on
# CPU 0 (h2load -t 1; molt bench then runs with GOMAXPROCS=1). ROUNDS
# interleaved rounds (h2load first in odd rounds, molt bench first in even
# ones), each run DURATION seconds; the table has the medians over rounds.
# Client CPU is user+system time over the run divided by requests done.
#
# Knobs (environment): ROUNDS (5), DURATION (seconds, 5), RATE (total
# requests/s, 800), CONNS (8), STREAMS (32), SERVERS ("nghttpd h2o"),
# CAPTURE=1 (needs tcpdump), KEEP=1 keeps the raw output, MOLT_BIN=path
# runs that molt build, ANALYZE=dir prints the table of a kept run again
# (with the ROUNDS, RATE, CONNS and SERVERS of that run).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
RATE=${RATE:-800}
CAPTURE=${CAPTURE:-0}
CONNS=${CONNS:-8}
STREAMS=${STREAMS:-32}
SERVERS=${SERVERS:-"nghttpd h2o"}
KEEP=${KEEP:-0}
PIN=1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

if ((RATE % CONNS)); then
	echo "RATE ($RATE) must be a multiple of CONNS ($CONNS): h2load's --rps is per connection" >&2
	exit 2
fi
if ((RATE / CONNS > 100)); then
	echo "warning: $((RATE / CONNS)) requests/s per connection: h2load's --rps sends bursts above 100 (see the top of this script)" >&2
fi

summarize() { # the table, from the raw output in $work
	python3 - "$work" "$ROUNDS" "$RATE" $SERVERS <<'PY'
import json, re, statistics, sys
work, rounds, rate, servers = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
nan = float("nan")
def med(xs):  # over the rounds that have the figure
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else nan
def cpu(path):
    u, s = open(path).read().split()[:2]
    return float(u) + float(s)
def pct(v, q):  # the smallest value with at least q of the values at or below it
    return v[max(0, int(-(-len(v) * q // 1)) - 1)]
def dur_us(v):  # h2load's util::format_duration: 63us, 8.07ms, 1.20s
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
def h2load_run(txt):
    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", txt).group(1))
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", txt).group(1))
    mean = dur_us(re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", txt).group(3))
    return rps, done, mean

def ratio(a, b):  # nan where the figure is 0 (an even open loop's bursty)
    return a / b if b else nan
def wire(base):  # pcaplatency.py's figures for a run, or nans
    try:
        w = json.load(open(base + ".wire.json"))
        return (w["p50_us"], w["p99_us"], w["sent_within_50us"])
    except (OSError, ValueError, KeyError):
        return (nan, nan, nan)
# wire p50/p99: pcaplatency.py's clock; bursty: the share of requests sent
# within 50 us of the one before (0 for an evenly spread open loop)
cols = ("req/s", "CPU us/req", "mean us", "p50 us", "p99 us", "due p50", "due p99", "wire p50", "wire p99", "bursty")
print(f"{'server':8} {'client':18}" + "".join(f" {c:>10}" for c in cols) + f"   (open loop at {rate:.0f} req/s, medians of {rounds} rounds)")
short = []
for s in servers:
    rows = {"h2load": [], "h2load+log": [], "molt": []}
    for r in range(1, rounds + 1):
        base = f"{work}/h2load-{s}-{r}"
        rps, done, mean = h2load_run(open(base + ".txt").read())
        rows["h2load"].append((rps, cpu(base + ".cpu") / done * 1e6, mean, nan, nan, nan, nan) + wire(base))
        lrps, ldone, lmean = h2load_run(open(base + ".lat.txt").read())
        lat = sorted(int(f[2]) for f in (l.split("\t") for l in open(base + ".log") if l.strip()) if f[1] != "-1")
        rows["h2load+log"].append((lrps, cpu(base + ".lat.cpu") / ldone * 1e6, lmean, pct(lat, 0.5), pct(lat, 0.99), nan, nan) + wire(base + ".lat"))
        base = f"{work}/molt-{s}-{r}"
        rep = json.load(open(base + ".json"))
        fs, due = rep["latency_from_send"], rep["latency"]
        rows["molt"].append((rep["requests_per_s"], cpu(base + ".cpu") / rep["requests"] * 1e6, fs["mean_us"], fs["p50_us"], fs["p99_us"], due["p50_us"], due["p99_us"]) + wire(base))
        if rps < 0.95 * rate or lrps < 0.95 * rate or rep["requests_per_s"] < 0.95 * rate:
            short.append(f"{s} round {r}: h2load {rps:.0f}, h2load+log {lrps:.0f}, molt {rep['requests_per_s']:.0f} req/s")
    m = {}
    for c in rows:
        m[c] = [med(x[i] for x in rows[c]) for i in range(len(cols))]
        print(f"{s:8} {c:18}" + "".join(f" {v:10.2f}" if i in (1, 9) else f" {v:10.0f}" for i, v in enumerate(m[c])))
    for a, b in (("molt", "h2load+log"), ("molt", "h2load"), ("h2load+log", "h2load")):
        print(f"{s:8} {a + '/' + b:18}" + "".join(f" {ratio(m[a][i], m[b][i]):10.2f}" for i in range(len(cols))))
    # per round, the ratios that matter, to show their spread
    for r in range(rounds):
        mo, lg = rows["molt"][r], rows["h2load+log"][r]
        print(f"{s:8}   round {r + 1}: molt/h2load+log p50 {ratio(mo[3], lg[3]):.2f} p99 {ratio(mo[4], lg[4]):.2f} mean {ratio(mo[2], lg[2]):.2f}; "
              f"h2load+log/h2load mean {ratio(lg[2], rows['h2load'][r][2]):.2f}; wire molt/h2load+log p50 {ratio(mo[7], lg[7]):.2f} p99 {ratio(mo[8], lg[8]):.2f}")
for line in short:
    print("short of the rate (the server or a client could not keep up):", line)
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
work=$(mktemp -d "${TMPDIR:-/tmp}/molt-vs-h2load-rate.XXXXXX")
pids=()
capture_pid=
trap c_bench_cleanup EXIT
start1() { c_start1 "$1"; }
c_bench_setup

TIMEFORMAT='%U %S'
rps=$((RATE / CONNS))
run_h2load() { # server round
	local out="$work/h2load-$1-$2"
	capture_start "$1"
	{ time "${client_pin[@]}" h2load -t 1 -c "$CONNS" -m "$STREAMS" --rps "$rps" -D "$DURATION" "$(url "$1")" >"$out.txt" 2>&1; } 2>"$out.cpu"
	capture_stop "$1" "$out.wire.json"
	capture_start "$1"
	{ time "${client_pin[@]}" h2load -t 1 -c "$CONNS" -m "$STREAMS" --rps "$rps" -D "$DURATION" \
		--log-file="$logdir/h2load-$1-$2.log" "$(url "$1")" >"$out.lat.txt" 2>&1; } 2>"$out.lat.cpu"
	capture_stop "$1" "$out.lat.wire.json"
	mv "$logdir/h2load-$1-$2.log" "$out.log"
}
run_molt() {
	local out="$work/molt-$1-$2"
	capture_start "$1"
	{ time "${client_pin[@]}" "$work/molt" bench -json -mode h2c -c "$CONNS" -m "$STREAMS" -rate "$RATE" -d "${DURATION}s" \
		"$(url "$1")" >"$out.json" 2>/dev/null; } 2>"$out.cpu"
	capture_stop "$1" "$out.wire.json"
}
echo "$placement; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
	for s in $SERVERS; do
		if ((r % 2)); then run_h2load "$s" "$r"; run_molt "$s" "$r"; else run_molt "$s" "$r"; run_h2load "$s" "$r"; fi
	done
	echo "round $r/$ROUNDS done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
summarize
