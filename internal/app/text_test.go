package app

import "testing"

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"GET":         "GET",
		"caf\xc3\xa9": "café",
		"a\x00b\xffc": `a\x00b\xffc`,
		"\r\n\x7f":    `\x0d\x0a\x7f`,
	} {
		if got := Printable([]byte(in)); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
