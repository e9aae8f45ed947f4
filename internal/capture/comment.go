package capture

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/masscanned-go/masscanned/internal/event"
)

// Comment bounds: a value is cut to maxValue bytes, a comment to
// maxComment (pcapng allows 65535; tshark shows one line).
const (
	maxValue   = 256
	maxComment = 2048
)

// appendComment renders a record's comment:
//
//	WHAT [reason=R] [reply=K] [suppressed=K] [app=PROTO [KEY=VALUE...]]
//
// WHAT is the event's verdict (recv, send, drop) for a frame's event and
// its kind (timer) for a timer action's. Values with spaces, quotes, '=' or
// anything not printable are double-quoted with Go escapes (ASCII only).
func appendComment(b []byte, r *record) []byte {
	if r.kind != "" {
		b = append(b, r.kind...)
	} else {
		b = append(b, r.verdict.String()...)
	}
	b = appendKV(b, "reason", r.reason)
	b = appendKV(b, "reply", r.reply)
	b = appendKV(b, "suppressed", r.suppressed)
	return appendApp(b, r.app)
}

// appendApp renders " app=PROTO KEY=VALUE..." (nothing for nil).
func appendApp(b []byte, a *event.App) []byte {
	if a == nil {
		return b
	}
	b = appendKV(b, "app", a.Proto)
	for _, f := range a.Fields {
		if len(b) > maxComment {
			break
		}
		b = appendKV(b, f.Key, valueString(f.Value))
	}
	return b
}

func appendKV(b []byte, k, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ' ')
	b = appendKey(b, k)
	b = append(b, '=')
	cut := false
	if len(v) > maxValue {
		n := maxValue
		for n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		v, cut = v[:n], true
	}
	if needsQuote(v) {
		b = strconv.AppendQuoteToASCII(b, v)
	} else {
		b = append(b, v...)
	}
	if cut {
		b = append(b, "..."...)
	}
	return b
}

// appendKey writes k with anything but printable ASCII other than '=' and
// '"' replaced by '_'.
func appendKey(b []byte, k string) []byte {
	if k == "" {
		return append(b, '_')
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == '=' || c == '"' {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

func needsQuote(s string) bool {
	for _, r := range s {
		switch {
		case r == utf8.RuneError, r == ' ', r == '"', r == '\\', r == '=':
			return true
		case !unicode.IsPrint(r):
			return true
		}
	}
	return false
}

// capComment cuts b to maxComment bytes on a character boundary.
func capComment(b []byte) []byte {
	if len(b) <= maxComment {
		return b
	}
	n := maxComment - 3
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return append(b[:n], "..."...)
}

func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []string:
		return strings.Join(x, ",")
	case []byte:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
