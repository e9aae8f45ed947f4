package stack

import "testing"

// FuzzTCPOptions: the options walker never reads past its input and never
// loops forever.
func FuzzTCPOptions(f *testing.F) {
	f.Add([]byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7})
	f.Add([]byte{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{2, 0, 5})
	f.Add([]byte{3, 40})
	f.Fuzz(func(t *testing.T, o []byte) {
		opts := parseTCPOptions(o)
		if opts.ws && len(o) < 3 || opts.ts && len(o) < 10 || opts.mss != 0 && len(o) < 4 {
			t.Fatalf("option parsed from too few bytes: %+v", opts)
		}
	})
}
