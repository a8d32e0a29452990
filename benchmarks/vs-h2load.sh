#!/usr/bin/env bash
# vs-h2load.sh checks that `molt bench` is not the bottleneck: it loads
# nghttpd and h2o (C servers, faster than any Go server) with h2load and
# with `molt bench -mode h2c`, same -c and -m, and compares the client's
# requests/s, CPU time per request, and p50/p99 latency.
#
# Each server serves a 5-byte file, pinned to CPU 1 (one worker thread);
# both clients are pinned to CPU 0, h2load with -t 1 (one thread), so each
# client has one core and the Go runtime runs molt bench with GOMAXPROCS=1.
# ROUNDS interleaved rounds (h2load then molt bench, then the other way
# round, ...) of DURATION seconds per run; the script prints the medians.
#
# Client CPU is user+system time of the client process over the whole run
# (bash's time), divided by the requests it completed.
#
# Latency: both tools time a request from the write that sends it (h2load:
# when nghttp2 serialises its HEADERS frame for the write; molt bench: the
# write system call that carries it) to its end (h2load: when its stream's
# close is processed; molt bench: the read that brought it). h2load prints
# only min/max/mean/sd ("time for request"); its percentiles need
# --log-file, a write system call per request that costs it throughput,
# so each round runs h2load a second time with --log-file (on /dev/shm
# when it exists) for p50/p99. The table shows both h2load runs and molt
# bench's ratio to each: req/s, CPU and mean against the run without the
# log, p50/p99 against the run with it.
#
# Knobs (environment): ROUNDS (default 5), DURATION (seconds, default 5),
# CONNS (default 8), STREAMS (default 32), SERVERS (default "nghttpd h2o"),
# KEEP=1 keeps the temporary directory with the raw output, MOLT_BIN=path
# runs that molt binary instead of building this tree's (to compare builds),
# ANALYZE=dir prints the table of a run kept with KEEP=1 (ROUNDS, CONNS,
# STREAMS and SERVERS as in that run).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-8}
STREAMS=${STREAMS:-32}
SERVERS=${SERVERS:-"nghttpd h2o"}
KEEP=${KEEP:-0}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

summarize() { # the table, from the raw output in $work
	python3 - "$work" "$ROUNDS" "$((CONNS * STREAMS))" $SERVERS <<'PY'
import json, re, statistics, sys
work, rounds, inflight, servers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
def cpu(path):
    u, s = open(path).read().split()[:2]
    return float(u) + float(s)
def pct(sorted_vals, q):
    return sorted_vals[max(0, -(-len(sorted_vals) * q // 1) - 1).__int__()]
def dur_us(v):  # h2load's util::format_duration: 63us, 8.07ms, 1.20s
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
def h2load_run(txt):
    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", txt).group(1))
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", txt).group(1))
    # "time for request: min max mean sd +/-sd", each request timed from
    # the serialisation of its HEADERS frame to its stream's close
    mean = dur_us(re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", txt).group(3))
    return rps, done, mean
med = statistics.median
nan = float("nan")
# covered: mean latency x req/s / requests in flight (Little's law). A
# clock that ran for the whole time each request holds a stream would
# give 1.00; the part missing is the time the client holds a stream
# outside its clock (handling a response before the next request's write).
print(f"{'server':8} {'client':16} {'req/s':>10} {'CPU us/req':>11} {'mean us':>8} {'p50 us':>8} {'p99 us':>8} {'covered':>8}   (medians of {rounds} rounds)")
for s in servers:
    rows = {"h2load": [], "h2load+log": [], "molt": []}
    for r in range(1, rounds + 1):
        base = f"{work}/h2load-{s}-{r}"
        rps, done, mean = h2load_run(open(base + ".txt").read())
        rows["h2load"].append((rps, cpu(base + ".cpu") / done * 1e6, mean, nan, nan))
        lrps, _, lmean = h2load_run(open(base + ".lat.txt").read())
        lat = sorted(int(f[2]) for f in (l.split("\t") for l in open(base + ".log") if l.strip()) if f[1] != "-1")
        rows["h2load+log"].append((lrps, nan, lmean, pct(lat, 0.5), pct(lat, 0.99)))
        base = f"{work}/molt-{s}-{r}"
        rep = json.load(open(base + ".json"))
        l = rep["latency"]
        rows["molt"].append((rep["requests_per_s"], cpu(base + ".cpu") / rep["requests"] * 1e6, l["mean_us"], l["p50_us"], l["p99_us"]))
    m = {}
    for c in rows:
        rows[c] = [x + (x[2] * 1e-6 * x[0] / inflight,) for x in rows[c]]
        m[c] = [med(x[i] for x in rows[c]) for i in range(6)]
        print(f"{s:8} {c:16} {m[c][0]:10.0f} {m[c][1]:11.2f} {m[c][2]:8.0f} {m[c][3]:8.0f} {m[c][4]:8.0f} {m[c][5]:8.2f}")
    for peer in ("h2load", "h2load+log"):
        ratio = [m["molt"][i] / m[peer][i] for i in range(6)]
        print(f"{s:8} {'molt/' + peer:16} {ratio[0]:10.2f} {ratio[1]:11.2f} {ratio[2]:8.2f} {ratio[3]:8.2f} {ratio[4]:8.2f} {ratio[5]:8.2f}")
PY
}
if [[ -n ${ANALYZE:-} ]]; then # the table of a run kept with KEEP=1
	work=$ANALYZE
	summarize
	exit 0
fi
for c in h2load nghttpd h2o taskset python3 go; do
	command -v "$c" >/dev/null || { echo "$c not found" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/molt-vs-h2load.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ ${logdir:-$work} != "$work" ]]; then rm -rf "$logdir"; fi
	if [[ $KEEP == 1 ]]; then echo "raw output kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

if [[ -n ${MOLT_BIN:-} ]]; then
	cp "$MOLT_BIN" "$work/molt"
else
	(cd "$here/.." && go build -o "$work/molt" ./cmd/molt)
fi
mkdir -p "$work/www"
printf hello >"$work/www/index.html"

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A url
for s in $SERVERS; do
	port=$(freeport)
	case $s in
	nghttpd)
		taskset -c 1 nghttpd --no-tls -d "$work/www" "$port" >"$work/nghttpd.log" 2>&1 &
		;;
	h2o)
		cat >"$work/h2o.conf" <<CONF
listen:
  host: 127.0.0.1
  port: $port
num-threads: 1
access-log: /dev/null
hosts:
  default:
    paths:
      /:
        file.dir: $work/www
CONF
		taskset -c 1 h2o -c "$work/h2o.conf" >"$work/h2o.log" 2>&1 &
		;;
	*) echo "unknown server $s" >&2; exit 1 ;;
	esac
	pids+=($!)
	url[$s]="http://127.0.0.1:$port/index.html"
done
for s in $SERVERS; do
	for _ in $(seq 50); do
		curl -sf --http2-prior-knowledge "${url[$s]}" >/dev/null 2>&1 && break
		sleep 0.1
	done
done

logdir=$work
if [[ -d /dev/shm && -w /dev/shm ]]; then
	logdir=$(mktemp -d /dev/shm/molt-vs-h2load.XXXXXX)
fi
TIMEFORMAT='%U %S'
run_h2load() { # server round
	local out="$work/h2load-$1-$2"
	{ time taskset -c 0 h2load -t 1 -c "$CONNS" -m "$STREAMS" -D "$DURATION" "${url[$1]}" >"$out.txt" 2>&1; } 2>"$out.cpu"
	taskset -c 0 h2load -t 1 -c "$CONNS" -m "$STREAMS" -D "$DURATION" --log-file="$logdir/h2load-$1-$2.log" "${url[$1]}" >"$out.lat.txt" 2>&1
	mv "$logdir/h2load-$1-$2.log" "$out.log"
}
run_molt() {
	local out="$work/molt-$1-$2"
	{ time taskset -c 0 "$work/molt" bench -json -mode h2c -c "$CONNS" -m "$STREAMS" -d "${DURATION}s" "${url[$1]}" >"$out.json" 2>/dev/null; } 2>"$out.cpu"
}
for r in $(seq "$ROUNDS"); do
	for s in $SERVERS; do
		if ((r % 2)); then run_h2load "$s" "$r"; run_molt "$s" "$r"; else run_molt "$s" "$r"; run_h2load "$s" "$r"; fi
	done
	echo "round $r/$ROUNDS done" >&2
done
summarize
