package pcapfile

import (
	"bytes"
	"testing"
)

// FuzzReader: any file is either read frame by frame or refused with an
// error; never a panic, and reading stops.
func FuzzReader(f *testing.F) {
	// a pcap with one 14-byte frame
	f.Add([]byte("\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x01\x00\x00\x00" +
		"\x01\x00\x00\x00\x02\x00\x00\x00\x0e\x00\x00\x00\x0e\x00\x00\x00" +
		"\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01\x08\x06"))
	f.Add([]byte("\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x1c\x00\x00\x00"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := newReader("fuzz", bytes.NewReader(in))
		if err != nil {
			return
		}
		for i := 0; i < 100000; i++ {
			if _, _, err := r.Next(); err != nil {
				return
			}
		}
		t.Fatal("reader did not stop")
	})
}
