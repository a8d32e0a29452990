package server

import "sync/atomic"

// Stats is a snapshot of a Server's counters.
type Stats struct {
	// Connections counts the connections that took each protocol. An
	// upgraded connection counts under both H1 and H2CUpgrade.
	Connections map[Protocol]int64
	// Open counts the connections open now by their current protocol;
	// the key "" holds those whose first bytes are still awaited.
	Open map[Protocol]int64
	// Upgrades counts h2c upgrades answered with 101, as each is handed
	// to the engine, which writes the 101 (ConnOptions.Preamble).
	Upgrades int64
	// Declined counts h2c upgrade requests served over HTTP/1.1, by reason.
	Declined map[DeclineReason]int64
	// Requests counts requests served over HTTP/1.x (upgrade requests that
	// were taken are not included: they count as streams).
	Requests int64
	// Streams counts HTTP/2 requests served (stream 1 of upgrades included).
	Streams int64
	// GoAways counts the HTTP/2 connections sent GOAWAY by Shutdown.
	GoAways int64
	// Hijacked counts HTTP/1.1 connections taken over by handlers.
	Hijacked int64
	// SniffFailures counts connections that closed, failed or timed out
	// before their first bytes showed a protocol, and those closed
	// unanswered because their first bytes were neither the HTTP/2
	// preface nor the start of an HTTP/1.x request line.
	SniffFailures int64
}

// counters are the live counters behind Stats.
type counters struct {
	conns         map[Protocol]*atomic.Int64
	declined      map[DeclineReason]*atomic.Int64
	upgrades      atomic.Int64
	requests      atomic.Int64 // of forgotten connections; see conn.count
	streams       atomic.Int64
	goaways       atomic.Int64
	hijacked      atomic.Int64
	sniffFailures atomic.Int64
}

func (c *counters) init() {
	c.conns = make(map[Protocol]*atomic.Int64)
	c.declined = make(map[DeclineReason]*atomic.Int64)
	for _, p := range Protocols {
		c.conns[p] = new(atomic.Int64)
	}
	for _, r := range DeclineReasons {
		c.declined[r] = new(atomic.Int64)
	}
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Connections:   make(map[Protocol]int64),
		Open:          make(map[Protocol]int64),
		Declined:      make(map[DeclineReason]int64),
		Upgrades:      s.stats.upgrades.Load(),
		GoAways:       s.stats.goaways.Load(),
		Hijacked:      s.stats.hijacked.Load(),
		SniffFailures: s.stats.sniffFailures.Load(),
	}
	for p, n := range s.stats.conns {
		st.Connections[p] = n.Load()
	}
	for r, n := range s.stats.declined {
		st.Declined[r] = n.Load()
	}
	s.mu.Lock()
	st.Requests, st.Streams = s.stats.requests.Load(), s.stats.streams.Load()
	for c := range s.conns {
		st.Open[c.protocol()]++
		st.Requests += c.requests.Load()
		st.Streams += c.streams.Load()
	}
	s.mu.Unlock()
	return st
}
