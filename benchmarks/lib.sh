# lib.sh holds what engines.sh, transfer.sh, builds.sh and
# vs-h2load-rate.sh share: CPU placement, free ports, starting a server
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
