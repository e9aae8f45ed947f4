package app

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Printable returns b as valid UTF-8 for an event field, escaping invalid
// bytes and control characters as \xNN.
func Printable(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if (r == utf8.RuneError && n == 1) || r < 0x20 || r == 0x7f {
			sb.WriteString(`\x`)
			sb.WriteString(strconv.FormatUint(uint64(b[0])>>4, 16))
			sb.WriteString(strconv.FormatUint(uint64(b[0])&15, 16))
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}
