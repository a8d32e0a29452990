#!/usr/bin/env python3
"""pcaplatency.py: per-stream HTTP/2 latency from a loopback packet capture.

    pcaplatency.py FILE.pcap SERVER_PORT  ->  one JSON line
    pcaplatency.py FILE.pcap SERVER_PORT --per-connection
        ->  and then one JSON line per connection, in the order they began

A clock that belongs to neither load generator: for every stream of every
cleartext HTTP/2 connection to SERVER_PORT in the capture, the time from
the packet that carried the end of the client's HEADERS frame to the
packet that carried the server's END_STREAM (the end of its DATA or
HEADERS) for that stream. On loopback a packet is captured as it is sent,
so this is request write to response write, what a client would see minus
its own wake-up and reading.

The capture must be of the whole connections (full packets, tcpdump's
default snap length, `-w` with --time-stamp-precision=nano or micro) on an
Ethernet-framed interface (Linux lo). TCP is reassembled per direction by
sequence number; a gap (a packet the capture dropped) ends that
direction's parsing and is counted, not guessed over. Streams without both
ends in the capture are not counted. Prints count, gaps, mean, p50, p90,
p99 and max in microseconds.

--per-connection tells the connections apart: two clients run side by
side against one server (the first to connect owning the first
connections), each under the same conditions of the machine, are timed
apart. Each line also counts what the connection carried each way:
packets with payload and HTTP/2 frames by type.
"""
import json
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        end, scale = "<", 1e3
    elif magic == 0xA1B23C4D:
        end, scale = "<", 1.0
    elif magic == 0xD4C3B2A1:
        end, scale = ">", 1e3
    elif magic == 0x4D3CB2A1:
        end, scale = ">", 1.0
    else:
        sys.exit(f"{path}: not a pcap file (magic {magic:#x})")
    linktype = struct.unpack(end + "I", data[20:24])[0]
    if linktype != 1:
        sys.exit(f"{path}: link type {linktype}, want 1 (Ethernet, as Linux lo)")
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        yield sec * 1e9 + frac * scale, data[off:off + incl]
        off += incl


class Direction:
    """One direction of a TCP connection: reassembly and HTTP/2 framing."""

    def __init__(self, client):
        self.client = client
        self.next_seq = None
        self.buf = bytearray()
        self.skip_preface = client
        self.broken = False

    def feed(self, seq, payload, t, on_frame):
        if self.broken or not payload:
            return 0
        if self.next_seq is None:
            self.next_seq = seq
        d = (seq - self.next_seq) & 0xFFFFFFFF
        if d >= 1 << 31:  # starts before what we have: a retransmission
            over = (self.next_seq - seq) & 0xFFFFFFFF
            if over >= len(payload):
                return 0
            payload, seq = payload[over:], self.next_seq
        elif d > 0:  # a gap: the capture lost a packet
            self.broken = True
            return 1
        self.next_seq = (seq + len(payload)) & 0xFFFFFFFF
        self.buf += payload
        if self.skip_preface:
            if len(self.buf) < 24:
                return 0
            if bytes(self.buf[:24]) != b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n":
                self.broken = True  # not prior-knowledge h2c
                return 0
            del self.buf[:24]
            self.skip_preface = False
        pos = 0
        while len(self.buf) - pos >= 9:
            length = int.from_bytes(self.buf[pos:pos + 3], "big")
            if len(self.buf) - pos < 9 + length:
                break
            ftype, flags = self.buf[pos + 3], self.buf[pos + 4]
            stream = int.from_bytes(self.buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            on_frame(ftype, flags, stream, t)
            pos += 9 + length
        del self.buf[:pos]
        return 0


FRAME_TYPES = ("DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE",
               "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION")


def summary(lat):
    """count, mean and percentiles of the sorted latencies lat (us)."""
    def pct(q):
        return lat[max(0, int(-(-len(lat) * q // 1)) - 1)] if lat else float("nan")
    return {
        "count": len(lat),
        "mean_us": sum(lat) / len(lat) if lat else float("nan"),
        "p50_us": pct(0.5), "p90_us": pct(0.9), "p99_us": pct(0.99),
        "max_us": lat[-1] if lat else float("nan"),
    }


def main():
    per_conn = len(sys.argv) == 4 and sys.argv[3] == "--per-connection"
    if len(sys.argv) != 3 and not per_conn:
        sys.exit(__doc__)
    path, port = sys.argv[1], int(sys.argv[2])
    conns = {}  # client port -> its figures, in the order the connections began
    dirs = {}  # (src port, dst port) -> Direction
    sent = {}  # (client port, stream) -> time of the request's HEADERS end
    lat = []
    sends = []  # when each request's HEADERS was sent
    gaps = 0
    for t, pkt in packets(path):
        if len(pkt) < 14 + 20 or pkt[12:14] != b"\x08\x00":
            continue  # not IPv4
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 6:
            continue  # not TCP
        total = int.from_bytes(ip[2:4], "big")
        tcp = ip[ihl:total]
        sport, dport = struct.unpack(">HH", tcp[:4])
        seq = int.from_bytes(tcp[4:8], "big")
        doff = (tcp[12] >> 4) * 4
        flags = tcp[13]
        payload = bytes(tcp[doff:])
        if port not in (sport, dport):
            continue
        key = (sport, dport)
        if flags & 0x02:  # SYN: a new connection on this port pair
            dirs[key] = Direction(dport == port)
            dirs[key].next_seq = (seq + 1) & 0xFFFFFFFF
            if dport == port:
                conns[sport] = {"lat": [], "to_server": {"packets": 0}, "to_client": {"packets": 0}}
            continue
        d = dirs.get(key)
        if d is None:
            continue  # a connection whose start was not captured
        cport = sport if d.client else dport
        conn = conns.get(cport)
        way = "to_server" if d.client else "to_client"
        if conn is not None and payload:
            conn[way]["packets"] += 1

        def on_frame(ftype, fflags, stream, t, d=d, cport=cport, conn=conn, way=way):
            if conn is not None:
                name = FRAME_TYPES[ftype] if ftype < len(FRAME_TYPES) else str(ftype)
                conn[way][name] = conn[way].get(name, 0) + 1
            if stream == 0:
                return
            if d.client and ftype == 1:  # HEADERS (a request)
                sent[(cport, stream)] = t
                sends.append(t)
            elif not d.client and ftype in (0, 1) and fflags & 1:  # END_STREAM
                t0 = sent.pop((cport, stream), None)
                if t0 is not None:
                    lat.append((t - t0) / 1e3)
                    if conn is not None:
                        conn["lat"].append((t - t0) / 1e3)

        gaps += d.feed(seq, payload, t, on_frame)
    lat.sort()
    # The load's shape: requests per packet that carried requests (one
    # connection's batches), and the share of requests sent within 50 us
    # of the request before them on any connection (bursts across
    # connections). A smooth open loop has about 1 and 0.
    sends.sort()
    packets_with_requests = len(set(sends))
    close = sum(1 for a, b in zip(sends, sends[1:]) if b - a < 50e3)

    print(json.dumps({
        "gaps": gaps,
        "requests_per_packet": len(sends) / packets_with_requests if sends else float("nan"),
        "sent_within_50us": close / (len(sends) - 1) if len(sends) > 1 else float("nan"),
        **summary(lat),
    }))
    if per_conn:
        for i, (cport, c) in enumerate(conns.items()):
            c["lat"].sort()
            print(json.dumps({"connection": i, "client_port": cport, **summary(c["lat"]),
                              "to_server": c["to_server"], "to_client": c["to_client"]}))


if __name__ == "__main__":
    main()
