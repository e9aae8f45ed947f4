package wire

import (
	"net/netip"
	"testing"
)

func TestChecksum(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint16
	}{
		// RFC 1071 example: 0001 f203 f4f5 f6f7 -> sum ddf2, checksum 220d
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0x220d},
		{"empty", nil, 0xffff},
		{"odd", []byte{0x01}, ^uint16(0x0100)},
		// an IPv4 header with its checksum in place sums to zero
		{"ipv4 header", []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}, 0},
		{"long", make([]byte, 1001), 0xffff},
	}
	for _, tc := range tests {
		if got := Checksum(tc.in); got != tc.want {
			t.Errorf("%s: got %#04x want %#04x", tc.name, got, tc.want)
		}
	}
}

func TestL4ChecksumRoundTrip(t *testing.T) {
	for _, pair := range [][2]string{{"192.0.2.1", "198.51.100.7"}, {"2001:db8::1", "2001:db8::2"}} {
		src, dst := netip.MustParseAddr(pair[0]), netip.MustParseAddr(pair[1])
		seg := []byte{0x30, 0x39, 0x00, 0x50, 0, 8, 0, 0, 'h', 'i', '!'}
		c := L4Checksum(src, dst, 17, seg)
		seg[6], seg[7] = byte(c>>8), byte(c)
		if v := L4Checksum(src, dst, 17, seg); v != 0 {
			t.Errorf("%v: verification sum %#04x, want 0", pair, v)
		}
	}
}
