package middleware

import (
	"strings"

	"golang.org/x/net/http/httpguts"
)

// codingWeights sets weights[i] to the weight, in thousandths, that the
// Accept-Encoding field values give codings[i] (RFC 9110 section 12.5.3):
// that of its own entry, or else that of "*", or else 0 (not acceptable).
// It returns the weight of identity's own entry, or -1 if it has none.
// Names compare without regard to case, "x-gzip" counts as "gzip",
// a coding listed twice takes the lower weight, and a malformed entry (a
// weight like "q=abc", "q=2" or "q=0.1234", or another parameter) counts
// as absent. It does not allocate.
func codingWeights(values []string, codings []string, weights []int) (identity int) {
	for i := range weights {
		weights[i] = -1 // not listed
	}
	star, identity := -1, -1
	for _, v := range values {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			name, q, ok := parseCoding(elem)
			if !ok {
				continue
			}
			switch {
			case name == "*":
				star = lowerWeight(star, q)
			case strings.EqualFold(name, "identity"):
				identity = lowerWeight(identity, q)
			default:
				if strings.EqualFold(name, "x-gzip") {
					name = "gzip"
				}
				for i, c := range codings {
					if strings.EqualFold(name, c) {
						weights[i] = lowerWeight(weights[i], q)
					}
				}
			}
		}
	}
	for i, q := range weights {
		if q < 0 {
			weights[i] = max(star, 0)
		}
	}
	return identity
}

// lowerWeight returns the weight of a coding listed with weight q, when it
// was listed before with weight old (-1 if not): the lower one.
func lowerWeight(old, q int) int {
	if old < 0 || q < old {
		return q
	}
	return old
}

// parseCoding parses one element of Accept-Encoding:
//
//	codings [ OWS ";" OWS "q=" qvalue ]
//
// returning the coding and its weight in thousandths, or ok false if the
// element is empty or malformed.
func parseCoding(s string) (name string, q int, ok bool) {
	name, params, hasParams := strings.Cut(s, ";")
	name = strings.Trim(name, " \t")
	if !httpguts.ValidHeaderFieldName(name) { // a token; "*" is one
		return "", 0, false
	}
	if !hasParams {
		return name, 1000, true
	}
	params = strings.Trim(params, " \t")
	if len(params) < 2 || (params[0] != 'q' && params[0] != 'Q') || params[1] != '=' {
		return "", 0, false
	}
	q, ok = parseQValue(params[2:])
	if !ok {
		return "", 0, false
	}
	return name, q, true
}

// parseQValue parses a qvalue (RFC 9110 section 12.4.2), "0" to "1" with
// at most three decimals, into thousandths.
func parseQValue(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' {
		return 0, false
	}
	scale := 100
	for _, d := range []byte(s[2:]) {
		if d < '0' || d > '9' {
			return 0, false
		}
		q += int(d-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}
