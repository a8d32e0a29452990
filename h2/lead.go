package h2

import (
	"errors"
	"net"
	"os"
	"time"
)

// Reading by a tunnel's handler (leader/follower).
//
// A WebSocket over HTTP/2 echoing one message at a time on a connection
// of its own would otherwise cross goroutines twice a message: the read
// loop reads the DATA frame and wakes the handler waiting in Body.Read,
// then reads again and parks. Over HTTP/1.1 the handler reads its socket
// itself. So while a tunnel (CONNECT stream) is the only stream of its
// connection, its handler's Read, finding nothing buffered, takes the
// connection's reading over: it runs the read loop's steps itself (step:
// read, handle any frame, for any stream, answer PINGs and SETTINGS),
// until its own stream has news, and returns with the reading still its
// own, so that its next Read goes on where it left off. The read loop
// waits meanwhile (awaitLead). One goroutine reads at a time, the holder
// of the reading; it moves only under mu.
//
// The reading moves to the handler (giveLeadLocked) when the read loop,
// about to wait for input, finds the only stream's Read waiting for data
// (wantLead, or offerLeadLocked for a Read that began to wait beside a
// stream since gone); a Write of that stream waiting for send window while no
// Read of it reads takes the reading's steps too (awaitSend), so that an
// echo of a message larger than the window does not hand the reading
// back and forth. If the read loop is already waiting in fill, that Read
// interrupts it: a read deadline in the past ends the read (interrupt),
// which loses no byte (fill keeps what it has read, and stands between
// frames or inside one whose bytes it buffers); the deadline is lifted
// again by the reader.
//
// It comes back to the read loop (handBackLocked):
//   - when the handler leaves Read with a frame other than its own DATA
//     buffered or with other streams open (doneStepping): those need
//     reading while it works (its own DATA waits for its next Read);
//   - when its handler returns, or its body is closed (streamDone,
//     doneStepping);
//   - when a Write of another stream waits for send window (awaitSend)
//     while the handler is out of Read: the WINDOW_UPDATE must be read;
//   - when the handler has stayed out of Read for leadReclaim (the timer,
//     onLeadTimer): a handler busy elsewhere leaves control frames,
//     resets and new streams unread no longer than about that;
//   - before a frame other than its own DATA while a write holds wmu or
//     waits for it, or while the answers held in the buffer fill half of
//     it (step, answerRoom): answering the frame would wait for that
//     write, or make the buffer flush, which a peer that does not read
//     may block, and a reader waiting for it could not be woken by its
//     deadline or Close; likewise before the wait for input when a write
//     holds wmu (step), and before a Read's own credit (WINDOW_UPDATE)
//     is written while it holds the reading out of step
//     (creditReadUnlock), where nobody would read the connection
//     meanwhile and no watchdog would end it;
//   - when the next frame cannot be buffered whole (frameTooLarge), which
//     fill cannot wait for;
//   - and when the handler's reading ends the connection (leadEnded),
//     for the read loop to tear it down.
//
// A wake-up of the leader's body from elsewhere (a read deadline, Close)
// interrupts its fill (wakeLocked), as a Read waiting on cond is woken;
// nothing can interrupt a write, so the leader never flushes its answers
// itself. It holds them (batching, for every frame but its own DATA and
// WINDOW_UPDATE, which need none), and a goroutine flushes them
// (flushSoon) before the leader waits for input and as it leaves Read or
// Write (doneStepping), waiting for wmu in the leader's place if another
// write holds it.

// leadReclaim is how long a tunnel's handler may hold the connection's
// reading while out of Read before the read loop takes it back; the
// timer that checks it fires at most once per leadReclaim while the
// handler is busy, not once a message.
const leadReclaim = 2 * time.Millisecond

// aLongTimeAgo is the read deadline that interrupts a read at once.
var aLongTimeAgo = time.Unix(1, 0)

// leadableLocked reports whether st's Read may hold the connection's
// reading: st is a tunnel, the only stream, its body may still bring
// data, and the connection can interrupt a read (its read deadline can
// be set).
func (sc *serverConn) leadableLocked(st *stream) bool {
	if !st.tunnel || sc.leader != nil || sc.closing || st.remoteDone || st.bodyClosed ||
		len(sc.streams) != 1 || sc.streams[st.id] != st || len(sc.queued) != 0 ||
		sc.lingerDeadline || sc.failed.Load() || (sc.upgraded && st.id == 1) {
		return false
	}
	if sc.leadProbe == 0 {
		// The read deadline is not in use here (only the preface, a
		// drain's linger and a connection error set one): lifting it
		// tells whether the connection has one to set.
		sc.leadProbe = -1
		if sc.c.SetReadDeadline(time.Time{}) == nil {
			sc.leadProbe = 1
		}
	}
	return sc.leadProbe > 0
}

// interruptLocked ends the fill the holder of the reading is waiting in,
// with a read deadline in the past (fill's caller lifts it again). A
// connection that is closing on a deadline of its own is left to it.
func (sc *serverConn) interruptLocked() {
	if sc.interrupting || sc.lingerDeadline || sc.failed.Load() {
		return
	}
	sc.interrupting = true
	sc.c.SetReadDeadline(aLongTimeAgo)
}

// giveLeadLocked gives the reading to st's Read, which waits for data
// (read loop only).
func (sc *serverConn) giveLeadLocked(st *stream) {
	sc.leader = st
	st.leads.Store(true)
	sc.wantLead = nil
	sc.handedOff = true
	st.wakeLocked()
}

// handBackLocked gives the reading back to the read loop.
func (sc *serverConn) handBackLocked() {
	if st := sc.leader; st != nil {
		sc.leader = nil
		st.leads.Store(false)
		sc.loopCond.Signal()
	}
}

// handBackIdleLocked gives the reading back if its holder is out of Read.
func (sc *serverConn) handBackIdleLocked() {
	if sc.leader != nil && !sc.leaderStepping {
		sc.handBackLocked()
	}
}

// awaitLead waits, in the read loop, until the reading is back. It
// reports whether the read loop goes on.
func (sc *serverConn) awaitLead() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for sc.leader != nil {
		sc.loopCond.Wait()
	}
	sc.handedOff = false
	return !sc.leadEnded
}

// leadLocked is one step of the reading by st's Read, which holds it and
// lends its buffer (st.rdst); called and returning with mu held.
func (sc *serverConn) leadLocked(st *stream) {
	st.idleLocked()
	sc.leaderStepping = true
	sc.leadSteps++
	wakes := st.wakes
	sc.mu.Unlock()
	ok := sc.step(st, wakes)
	sc.mu.Lock()
	sc.leaderStepping = false
	if !ok && sc.leader == st {
		sc.leadEnded = true
		sc.handBackLocked()
	}
}

// doneStepping runs as a Read or Write of st that may have held the
// reading returns: the reading goes back to the read loop if anything
// needs reading while the handler is away; a Read or Write of st that
// waited while this one read takes it over; otherwise it stays, and the
// timer (onLeadTimer) is set to take it back if the handler stays away.
func (sc *serverConn) doneStepping(st *stream) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.leader != st || sc.leaderStepping {
		return
	}
	if sc.batching.Load() {
		// Frames answered while input was buffered are held; the read
		// loop would send them before its next read, and so must the
		// handler before it goes about its work, but without waiting in
		// the write or for wmu (a goroutine makes it, flushSoon).
		sc.batching.Store(false)
		sc.flushSoon()
	}
	if sc.br.frameBuffered() && !sc.br.dataFor(st.id) || len(sc.streams) != 1 || st.closed || st.bodyClosed || sc.closing {
		sc.handBackLocked()
		return
	}
	if st.rdst != nil {
		st.wakeLocked() // a Read waits, lending its buffer, since a Write read
	}
	if sc.sendWaiters > 0 {
		sc.sendCond.Broadcast() // a Write waits for window since a Read read
	}
	// Whoever was woken may leave at once: the timer is set in any case.
	if !sc.leadTimerSet {
		sc.leadTimerSet = true
		sc.leadStepsSeen = sc.leadSteps
		if sc.leadTimer == nil {
			sc.leadTimer = time.AfterFunc(leadReclaim, sc.onLeadTimer)
		} else {
			sc.leadTimer.Reset(leadReclaim)
		}
	}
}

// offerLeadLocked offers the reading to the connection's only stream if
// it is a tunnel whose Read waits for data (lent, nothing delivered yet)
// and may read (leadableLocked): as wantLead, interrupting the read loop
// if it waits for input already. Called as a stream leaves the
// connection, so that a Read that began to wait beside another stream
// need not wait for its next message to read.
func (sc *serverConn) offerLeadLocked() {
	if sc.wantLead != nil || sc.leader != nil || len(sc.streams) != 1 {
		return
	}
	for _, st := range sc.streams {
		if st.rdst != nil && st.rn == 0 && sc.leadableLocked(st) {
			sc.wantLead = st
			if sc.loopBlocked {
				sc.interruptLocked()
			}
		}
	}
}

// onLeadTimer takes the reading back from a handler that has not been
// in Read since the timer was last set, and sets the timer again if it
// has been and is out of Read now.
func (sc *serverConn) onLeadTimer() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch {
	case sc.leader == nil || sc.closing || sc.leaderStepping:
		sc.leadTimerSet = false // reading: doneStepping sets it again
	case sc.leadSteps != sc.leadStepsSeen:
		sc.leadStepsSeen = sc.leadSteps
		sc.leadTimer.Reset(leadReclaim)
	default:
		sc.leadTimerSet = false
		sc.handBackLocked()
	}
}

// awaitFrame waits until a whole frame is buffered, reading as the
// holder of the reading: the read loop (leader nil) or leader's Read,
// which passes the count of its body's wake-ups as it last looked
// (wakes). It reports whether the caller goes on to read a frame; false
// if the reading has moved (to a tunnel's Read that waits for it, or
// back from leader) or leader's body has been woken: the caller looks
// again at what it waits for.
//
// Without a tunnel on the connection, the read loop waits as before,
// touching nothing under mu.
func (sc *serverConn) awaitFrame(leader *stream, wakes uint32) bool {
	tunnels := leader != nil || sc.tunnels.Load() > 0
	for !sc.br.frameBuffered() {
		if sc.br.frameTooLarge() {
			if leader == nil {
				return true // the Framer reads it, waiting as it must
			}
			sc.mu.Lock()
			sc.handBackLocked()
			sc.mu.Unlock()
			return false
		}
		if tunnels {
			sc.mu.Lock()
			if leader == nil {
				sc.offerLeadLocked()
				if st := sc.wantLead; st != nil && st.rdst != nil && st.rn == 0 && sc.leadableLocked(st) {
					sc.giveLeadLocked(st)
					sc.mu.Unlock()
					return false
				}
				sc.loopBlocked = true
			} else {
				if leader.wakes != wakes {
					sc.mu.Unlock()
					return false
				}
				sc.leaderBlocked = true
			}
			sc.mu.Unlock()
		}
		err := sc.br.fill()
		if tunnels {
			sc.mu.Lock()
			sc.loopBlocked, sc.leaderBlocked = false, false
			interrupted := sc.interrupting
			if interrupted {
				sc.interrupting = false
				if !sc.lingerDeadline && !sc.failed.Load() {
					sc.c.SetReadDeadline(time.Time{})
				}
			}
			sc.mu.Unlock()
			if interrupted && isTimeout(err) {
				if leader != nil {
					return false
				}
				continue
			}
		}
		if err != nil {
			sc.br.keep(err) // readFrame returns it after what is buffered
			return true
		}
	}
	return true
}

// isTimeout reports whether err is a read's timeout, as a deadline in
// the past makes it.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// answerRoom reports whether no write holds wmu or waits for it now,
// and the buffer has room for the answers to a frame (half of it free):
// a leader's answers then go into the buffer, which only a flush empties,
// without a write.
func (sc *serverConn) answerRoom() bool {
	if sc.pending.Load() > 0 || !sc.wmu.TryLock() {
		return false
	}
	room := sc.bw.n <= bufSize/2
	sc.wmu.Unlock()
	return room
}

// wmuFree reports whether no write holds wmu or waits for it now.
func (sc *serverConn) wmuFree() bool {
	if sc.pending.Load() > 0 || !sc.wmu.TryLock() {
		return false
	}
	sc.wmu.Unlock()
	return true
}
