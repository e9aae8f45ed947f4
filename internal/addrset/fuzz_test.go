package addrset

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzReader: any file content either parses or gives an error, never a
// panic; everything parsed is contained.
func FuzzReader(f *testing.F) {
	f.Add([]byte("192.0.2.1\n# comment\n2001:db8::/32\n"))
	f.Add([]byte("  198.51.100.0/24 # tail\r\n\n"))
	f.Add([]byte("::ffff:203.0.113.1\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var b Builder
		if err := b.AddReader(bytes.NewReader(in), "fuzz"); err != nil {
			return
		}
		s := b.Set()
		for _, a := range s.Addrs() {
			if !s.Contains(a) {
				t.Fatalf("%v parsed but not contained", a)
			}
		}
		for _, p := range s.Prefixes() {
			if !s.Contains(p.Addr()) || !s.Contains(netip.PrefixFrom(p.Addr(), p.Bits()).Masked().Addr()) {
				t.Fatalf("%v parsed but not contained", p)
			}
		}
	})
}
