package h2

import (
	"errors"
	"fmt"

	"golang.org/x/net/http2"
)

// maxSettings is the most settings the server takes in one SETTINGS
// frame, or in an upgrade's HTTP2-Settings; there are seven defined ones,
// and a peer that sends more is after the server's time.
const maxSettings = 64

// CheckUpgradeSettings reports whether ServeConn would accept p, the
// decoded payload of an h2c upgrade's HTTP2-Settings header, as
// [ServeConnOpts.Settings]: a whole number of six-byte settings, at most
// 64 of them, each with a value RFC 9113 section 6.5.2, RFC 8441 and
// RFC 9218 allow. Unknown settings are accepted and ignored. Code that performs
// the upgrade itself calls it before answering 101, so that a request
// the connection would refuse is served over HTTP/1.1 instead.
func (s *Server) CheckUpgradeSettings(p []byte) error {
	if len(p)%6 != 0 {
		return errors.New("h2: HTTP2-Settings is not a whole number of settings")
	}
	if len(p)/6 > maxSettings {
		return fmt.Errorf("h2: HTTP2-Settings holds %d settings, more than %d", len(p)/6, maxSettings)
	}
	for ; len(p) > 0; p = p[6:] {
		if err := checkSetting(parseSetting(p)); err != nil {
			return fmt.Errorf("h2: HTTP2-Settings: %w", err)
		}
	}
	return nil
}

// settingNoRFC7540Priorities is SETTINGS_NO_RFC7540_PRIORITIES (RFC 9218).
const settingNoRFC7540Priorities http2.SettingID = 0x9

// checkSetting returns the connection error a client's setting s is, or
// nil: the values RFC 9113 section 6.5.2 and RFC 8441 allow
// (http2.Setting.Valid), and 0 or 1 for SETTINGS_NO_RFC7540_PRIORITIES
// (RFC 9218 section 2.1).
func checkSetting(s http2.Setting) error {
	if err := s.Valid(); err != nil {
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			return connError{http2.ErrCode(ce), fmt.Sprintf("invalid setting %v", s)}
		}
		return err
	}
	if s.ID == settingNoRFC7540Priorities && s.Val > 1 {
		return connError{http2.ErrCodeProtocol, fmt.Sprintf("invalid setting %v", s)}
	}
	return nil
}

// parseSetting decodes the six bytes of one setting at the start of p.
func parseSetting(p []byte) http2.Setting {
	return http2.Setting{
		ID:  http2.SettingID(uint16(p[0])<<8 | uint16(p[1])),
		Val: uint32(p[2])<<24 | uint32(p[3])<<16 | uint32(p[4])<<8 | uint32(p[5]),
	}
}
