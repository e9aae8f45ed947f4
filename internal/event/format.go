package event

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ParseFormat returns the constructor of the sink for a format name:
// console, logfmt or json.
func ParseFormat(name string) (func(io.Writer) Sink, error) {
	switch name {
	case "console":
		return func(w io.Writer) Sink { return NewConsole(w) }, nil
	case "logfmt":
		return func(w io.Writer) Sink { return NewLogfmt(w) }, nil
	case "json":
		return func(w io.Writer) Sink { return NewJSON(w) }, nil
	}
	return nil, fmt.Errorf("unknown event format %q (want console, logfmt or json)", name)
}

// textSink is the part the text formats share: a buffered writer and a
// reusable line buffer. The caller owns the underlying io.Writer: Close
// flushes but does not close it.
type textSink struct {
	w   *bufio.Writer
	buf []byte
}

func newTextSink(w io.Writer) textSink {
	return textSink{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 512)}
}

func (s *textSink) writeLine() error {
	s.buf = append(s.buf, '\n')
	_, err := s.w.Write(s.buf)
	return err
}

// Flush writes buffered lines to the underlying writer.
func (s *textSink) Flush() error { return s.w.Flush() }

// Close flushes. It does not close the underlying writer, which the
// caller owns.
func (s *textSink) Close() error { return s.w.Flush() }

// appendUnixMillis appends "<unix seconds>.<milliseconds, 3 digits>".
func appendUnixMillis(b []byte, e *Event) []byte {
	sec := e.Time.Unix()
	ms := e.Time.Nanosecond() / 1e6
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return b
}

const hexDigits = "0123456789abcdef"

func zeroMAC(m [6]byte) bool { return m == [6]byte{} }

// appendMAC appends m as lower-case colon hex.
func appendMAC(b []byte, m [6]byte) []byte {
	for i, x := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return b
}

// ProtoName is the name of an IP protocol number as used in events:
// icmp, tcp, udp, ipv6-icmp, or the number in decimal.
func ProtoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "ipv6-icmp"
	}
	return strconv.Itoa(int(p))
}

// hasTransport reports whether the event carries an IP protocol.
func hasTransport(e *Event) bool {
	return e.Layer != "arp" && (e.IPProto != 0 || e.SrcIP.IsValid() || e.DstIP.IsValid())
}

// hasPorts reports whether the ports of e are meaningful.
func hasPorts(e *Event) bool {
	return e.SrcPort != 0 || e.DstPort != 0 || e.Layer == "tcp" || e.Layer == "udp"
}

func isTCP(e *Event) bool { return e.Layer == "tcp" || e.IPProto == 6 && e.TCPFlags != 0 }

func isICMP(e *Event) bool { return e.Layer == "icmpv4" || e.Layer == "icmpv6" }

// TCPFlagString spells TCP flags as letters in bit order F S R P A U E C,
// e.g. "SA" for SYN+ACK.
func TCPFlagString(f uint8) string {
	return string(appendTCPFlags(nil, f))
}

func appendTCPFlags(b []byte, f uint8) []byte {
	const letters = "FSRPAUEC"
	for i := range 8 {
		if f&(1<<i) != 0 {
			b = append(b, letters[i])
		}
	}
	return b
}

// valueString renders an application field value as text.
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
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

// needsQuote reports whether s has spaces, tabs, quotes, '=' (when eq),
// non-printables or invalid UTF-8, or is empty (when empty).
func needsQuote(s string, eq, empty bool) bool {
	if s == "" {
		return empty
	}
	for _, r := range s {
		switch {
		case r == utf8.RuneError, r == ' ', r == '\t', r == '"', r == '\\' && eq, r == '=' && eq:
			return true
		case !unicode.IsPrint(r):
			return true
		}
	}
	return false
}

// sanitizeKey makes s usable as a logfmt/console key.
func sanitizeKey(s string) string {
	ok := s != ""
	for _, r := range s {
		if r <= ' ' || r == '=' || r == '"' || r >= utf8.RuneSelf {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r <= ' ' || r == '=' || r == '"' || r >= utf8.RuneSelf {
			b.WriteByte('_')
		} else {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}
