package websocket

import (
	"errors"
	"strconv"
)

// StatusCode is a WebSocket close status code (RFC 6455, section 7.4).
type StatusCode int

// The close status codes defined by RFC 6455, and the three that IANA's
// WebSocket Close Code Number Registry added after it (1012-1014).
// StatusNoStatusRcvd and StatusAbnormalClosure are only reported, never
// sent.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	StatusNoStatusRcvd            StatusCode = 1005 // never sent
	StatusAbnormalClosure         StatusCode = 1006 // never sent
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusMandatoryExtension      StatusCode = 1010
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
	StatusBadGateway              StatusCode = 1014
)

// String returns the code's name as in RFC 6455 or the IANA registry, or
// its number.
func (s StatusCode) String() string {
	switch s {
	case StatusNormalClosure:
		return "normal closure"
	case StatusGoingAway:
		return "going away"
	case StatusProtocolError:
		return "protocol error"
	case StatusUnsupportedData:
		return "unsupported data"
	case StatusNoStatusRcvd:
		return "no status received"
	case StatusAbnormalClosure:
		return "abnormal closure"
	case StatusInvalidFramePayloadData:
		return "invalid frame payload data"
	case StatusPolicyViolation:
		return "policy violation"
	case StatusMessageTooBig:
		return "message too big"
	case StatusMandatoryExtension:
		return "mandatory extension"
	case StatusInternalError:
		return "internal error"
	case StatusServiceRestart:
		return "service restart"
	case StatusTryAgainLater:
		return "try again later"
	case StatusBadGateway:
		return "bad gateway"
	}
	return strconv.Itoa(int(s))
}

// validCode reports whether code may appear in a close frame on the wire:
// 1000-1003 and 1007-1014 (RFC 6455 and the IANA registry), and
// 3000-4999 (registered and private use). Every other code received is a
// protocol error, and Close refuses to send one.
func validCode(code StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// CloseError is returned by reads once the peer sent a close frame, with
// the peer's code and reason (StatusNoStatusRcvd if its frame had no
// code), or wrapped in the error of a connection that this side failed
// with a close code (a protocol error, invalid UTF-8, a message over the
// read limit).
type CloseError struct {
	Code   StatusCode
	Reason string
}

// Error describes the close.
func (e *CloseError) Error() string {
	s := "websocket: close " + strconv.Itoa(int(e.Code)) + " (" + e.Code.String() + ")"
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// CloseStatus returns the code of a *CloseError in err's chain, or -1.
func CloseStatus(err error) StatusCode {
	if ce, ok := errors.AsType[*CloseError](err); ok {
		return ce.Code
	}
	return -1
}
