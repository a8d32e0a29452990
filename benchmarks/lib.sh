# lib.sh holds what engines.sh, transfer.sh, builds.sh,
# vs-h2load-rate.sh and vs-h2load-side.sh share: CPU placement, free ports, starting a server
# with retries (the C servers with start_c_server) and waiting for it to
# answer, and the per-process
# counters read from /proc. Source it after `set -euo
# pipefail`:
#
#   . "$here/lib.sh"

# pin_setup CLIENT sets server_pin and client_pin (command prefixes),
# h2o_threads and placement (a line for the report) from PIN: with PIN=1
# on a machine of two CPUs or more, servers go to CPU 1 (the Go servers
# then run with GOMAXPROCS=1, h2o with one thread) and CLIENT to CPU 0;
# otherwise nothing is pinned.
pin_setup() {
	server_pin=()
	client_pin=()
	h2o_threads=$(nproc)
	if [[ $PIN == 1 ]] && command -v taskset >/dev/null && (($(nproc) >= 2)); then
		server_pin=(taskset -c 1)
		client_pin=(taskset -c 0)
		h2o_threads=1
		placement="servers pinned to CPU 1 (GOMAXPROCS=1, h2o 1 thread), $1 pinned to CPU 0"
	else
		placement="no CPU pinning (GOMAXPROCS=$(nproc), h2o $h2o_threads threads)"
	fi
}

# free_port prints a TCP port that nothing listens on now.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		if ! (: </dev/tcp/127.0.0.1/$p) 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# start NAME starts server NAME with the script's start1 NAME, which
# picks a free port, starts the server, waits until it answers and sets
# port_NAME and pid_NAME, or fails. A port taken between the check and
# the listen (by another program) gets a second try, and more; after
# five, start prints $work/NAME.out and exits.
start() {
	local try
	for ((try = 1; try <= 5; try++)); do
		start1 "$1" && return
	done
	echo "$1 did not start:" >&2
	cat "$work/$1.out" >&2
	exit 1
}

# await_server NAME PID PORT PATH waits until server NAME, process PID,
# answers h2load's request for PATH on PORT, then sets port_NAME and
# pid_NAME; it fails (killing PID) if the process ends first or 10 s
# pass. start1 functions end with it.
await_server() {
	local name=$1 pid=$2 port=$3 path=$4 i
	for ((i = 0; i < 100; i++)); do
		if h2load -n 1 "http://127.0.0.1:$port$path" 2>/dev/null | grep -q '^requests: 1 total.* 1 succeeded'; then
			printf -v "port_$name" '%s' "$port"
			printf -v "pid_$name" '%s' "$pid"
			return
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	kill "$pid" 2>/dev/null
	return 1
}

# start_c_server NAME PORT starts nghttpd or h2o (NAME) in the background
# ($! is its process), placed by server_pin, serving the files of
# $work/www on PORT, h2o with h2o_threads threads and no access log; its
# output goes to $work/NAME.out.
start_c_server() {
	case $1 in
	nghttpd)
		"${server_pin[@]}" nghttpd --no-tls -d "$work/www" "$2" >"$work/$1.out" 2>&1 &
		;;
	h2o)
		cat >"$work/h2o.conf" <<-EOF
			listen:
			  host: 127.0.0.1
			  port: $2
			num-threads: $h2o_threads
			hosts:
			  default:
			    paths:
			      /:
			        file.dir: $work/www
		EOF
		"${server_pin[@]}" h2o -c "$work/h2o.conf" >"$work/$1.out" 2>&1 &
		;;
	esac
}

# counters PID prints the CPU ticks (utime+stime), syscr and syscw of PID.
counters() {
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) }
	printf '%s %s %s\n' "$(awk '{ print $12 + $13 }' <<<"$stat")" \
		"$(awk '/^syscr/ { print $2 }' "/proc/$1/io")" "$(awk '/^syscw/ { print $2 }' "/proc/$1/io")"
}

clk_tck=$(getconf CLK_TCK)

# The setup that vs-h2load-rate.sh and vs-h2load-side.sh share. They set
# work, here, KEEP, CAPTURE and the array pids, and call:
#
# c_bench_cleanup (the EXIT trap) stops the capture and the servers,
# removes logdir and, unless KEEP=1, work.
c_bench_cleanup() {
	if [[ -n ${capture_pid:-} ]]; then kill "$capture_pid" 2>/dev/null || true; fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ ${logdir:-$work} != "$work" ]]; then rm -rf "$logdir"; fi
	if [[ $KEEP == 1 ]]; then echo "raw output kept in $work" >&2; else rm -rf "$work"; fi
}

# c_bench_setup builds molt into $work/molt (or copies MOLT_BIN), writes
# the 5-byte file the servers serve, places the processes with the
# clients on CPU 0 (pin_setup), starts SERVERS and makes logdir, on
# /dev/shm where it can (for h2load's log and the capture).
c_bench_setup() {
	if [[ -n ${MOLT_BIN:-} ]]; then
		cp "$MOLT_BIN" "$work/molt"
	else
		(cd "$here/.." && go build -o "$work/molt" ./cmd/molt)
	fi
	mkdir -p "$work/www"
	chmod 755 "$work" # h2o run as root serves files as nobody
	printf hello >"$work/www/index.html"
	pin_setup clients
	local s
	for s in $SERVERS; do
		start "$s"
	done
	logdir=$work
	if [[ -d /dev/shm && -w /dev/shm ]]; then
		logdir=$(mktemp -d /dev/shm/molt-c-bench.XXXXXX)
	fi
}

# c_start1 NAME starts C server NAME on a free port and waits until it
# answers; it sets port_NAME and pid_NAME. The scripts that serve only
# nghttpd and h2o make it their start1 (for start).
c_start1() {
	local name=$1 port
	port=$(free_port)
	case $name in
	nghttpd | h2o) start_c_server "$name" "$port" ;;
	*)
		echo "unknown server $name" >&2
		exit 2
		;;
	esac
	pids+=("$!")
	await_server "$name" "$!" "$port" /index.html
}

# url NAME is the URL of the file on server NAME.
url() { local p="port_$1"; echo "http://127.0.0.1:${!p}/index.html"; }

# capture_start NAME starts tcpdump on the loopback for server NAME's
# port, with CAPTURE=1, placed with the servers; capture_stop NAME OUT
# [ARGS] stops it and writes pcaplatency.py's figures (with ARGS) to
# OUT.
capture_start() {
	[[ $CAPTURE == 1 ]] || return 0
	local p="port_$1" i
	"${server_pin[@]}" tcpdump -i lo -B 65536 --time-stamp-precision=nano -w "$logdir/cap.pcap" "tcp port ${!p}" 2>"$work/tcpdump.err" &
	capture_pid=$!
	for ((i = 0; i < 50; i++)); do
		# "listening" comes a moment before packets are captured (a run
		# whose SYNs were missed has no stream to time): wait a little.
		grep -q listening "$work/tcpdump.err" 2>/dev/null && sleep 0.5 && return 0
		sleep 0.1
	done
	echo "tcpdump did not start:" >&2
	cat "$work/tcpdump.err" >&2
	exit 1
}
capture_stop() {
	[[ $CAPTURE == 1 ]] || return 0
	kill -INT "$capture_pid"
	wait "$capture_pid" || true
	capture_pid=
	local p="port_$1" out=$2
	shift 2
	if grep -q ' [1-9][0-9]* packets dropped by kernel' "$work/tcpdump.err"; then
		echo "capture for $out dropped packets: $(grep dropped "$work/tcpdump.err")" >&2
	fi
	python3 "$here/pcaplatency.py" "$logdir/cap.pcap" "${!p}" "$@" >"$out"
	rm -f "$logdir/cap.pcap"
}
