package tlsfp

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// hello describes a ClientHello to build for the tests.
type hello struct {
	version   uint16
	sessionID []byte
	ciphers   []uint16
	exts      []Extension // in order; nil data is allowed
	noExts    bool        // omit the extensions block entirely
}

// body returns the ClientHello handshake body of h.
func (h hello) body() []byte {
	var b cryptobyte.Builder
	v := h.version
	if v == 0 {
		v = 0x0303
	}
	b.AddUint16(v)
	b.AddBytes(bytes.Repeat([]byte{0x42}, 32))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.sessionID) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, c := range h.ciphers {
			b.AddUint16(c)
		}
	})
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
	if !h.noExts {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range h.exts {
				b.AddUint16(e.Type)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Data) })
			}
		})
	}
	return b.BytesOrPanic()
}

// message returns the ClientHello handshake message of h, with header.
func (h hello) message() []byte {
	body := h.body()
	return append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// records splits msg into TLS handshake records of at most size bytes
// of fragment each.
func records(msg []byte, size int) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, 22, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

// Extension builders.

func u16list(typ uint16, short bool, vals ...uint16) Extension {
	var b cryptobyte.Builder
	add := func(b *cryptobyte.Builder) {
		for _, v := range vals {
			b.AddUint16(v)
		}
	}
	if short {
		b.AddUint8LengthPrefixed(add)
	} else {
		b.AddUint16LengthPrefixed(add)
	}
	return Extension{typ, b.BytesOrPanic()}
}

func sni(name string) Extension {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
	})
	return Extension{ExtServerName, b.BytesOrPanic()}
}

func alpn(protos ...string) Extension {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, p := range protos {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
		}
	})
	return Extension{ExtALPN, b.BytesOrPanic()}
}

func pointFormats(f ...byte) Extension {
	return Extension{ExtECPointFormats, append([]byte{byte(len(f))}, f...)}
}

func empty(typ uint16) Extension { return Extension{Type: typ} }

// specHello is the example of FoxIO's JA4 specification: Chrome's
// ciphers and extensions in the order of the specification's JA4_ro.
func specHello() hello {
	exts := []Extension{
		empty(0x001b), sni("example.com"), empty(0x0033), alpn("h2", "http/1.1"),
		empty(0x4469), empty(0x0017), empty(0x002d),
		u16list(ExtSignatureAlgorithms, false, 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601),
		empty(0x0005), empty(0x0023), empty(0x0012),
		u16list(ExtSupportedVersions, true, 0x0304, 0x0303),
		empty(0xff01), pointFormats(0), u16list(ExtSupportedGroups, false, 0x001d, 0x0017, 0x0018), empty(0x0015),
	}
	return hello{
		ciphers: []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		exts:    exts,
	}
}

// withGREASE returns h with GREASE values added to every list.
func withGREASE(h hello) hello {
	h.ciphers = append([]uint16{0x0a0a}, h.ciphers...)
	exts := []Extension{empty(0x1a1a)}
	for _, e := range h.exts {
		switch e.Type {
		case ExtSupportedVersions:
			e = u16list(ExtSupportedVersions, true, 0x2a2a, 0x0304, 0x0303)
		case ExtSupportedGroups:
			e = u16list(ExtSupportedGroups, false, 0x3a3a, 0x001d, 0x0017, 0x0018)
		}
		exts = append(exts, e)
	}
	h.exts = append(exts, Extension{0xfafa, []byte{0}})
	return h
}

func parse(t *testing.T, h hello) *ClientHello {
	t.Helper()
	ch, err := ParseClientHello(h.body())
	if err != nil {
		t.Fatalf("ParseClientHello: %v", err)
	}
	return ch
}

func TestParseClientHelloFields(t *testing.T) {
	h := withGREASE(specHello())
	h.sessionID = bytes.Repeat([]byte{7}, 32)
	ch := parse(t, h)
	if ch.Version != 0x0303 || len(ch.Random) != 32 || ch.SessionIDLen != 32 {
		t.Errorf("version %#x random %d session id %d", ch.Version, len(ch.Random), ch.SessionIDLen)
	}
	if len(ch.CipherSuites) != 16 || ch.CipherSuites[0] != 0x0a0a || ch.CipherSuites[1] != 0x1301 {
		t.Errorf("ciphers %04x", ch.CipherSuites)
	}
	if len(ch.Extensions) != 18 || ch.Extensions[0].Type != 0x1a1a || ch.Extensions[17].Type != 0xfafa {
		t.Errorf("%d extensions", len(ch.Extensions))
	}
	if !ch.HasSNI || ch.ServerName != "example.com" {
		t.Errorf("SNI %v %q", ch.HasSNI, ch.ServerName)
	}
	if len(ch.ALPN) != 2 || ch.ALPN[0] != "h2" || ch.ALPN[1] != "http/1.1" {
		t.Errorf("ALPN %q", ch.ALPN)
	}
	if len(ch.SupportedVersions) != 3 || ch.SupportedVersions[1] != 0x0304 {
		t.Errorf("supported versions %04x", ch.SupportedVersions)
	}
	if len(ch.SignatureAlgorithms) != 8 || len(ch.SupportedGroups) != 4 || !bytes.Equal(ch.ECPointFormats, []byte{0}) {
		t.Errorf("sigalgs %04x groups %04x formats %v", ch.SignatureAlgorithms, ch.SupportedGroups, ch.ECPointFormats)
	}
	if !ch.HasGREASE {
		t.Error("HasGREASE false")
	}
	if parse(t, specHello()).HasGREASE {
		t.Error("HasGREASE true without GREASE")
	}
}

func TestIsGREASE(t *testing.T) {
	n := 0
	for v := range 1 << 16 {
		if IsGREASE(uint16(v)) {
			n++
			if v&0x0f0f != 0x0a0a || v>>8 != v&0xff {
				t.Errorf("%#04x", v)
			}
		}
	}
	if n != 16 {
		t.Errorf("%d GREASE values", n)
	}
}

func TestJA4(t *testing.T) {
	sigs := u16list(ExtSignatureAlgorithms, false, 0x0403, 0x0804)
	for _, tt := range []struct {
		name      string
		h         hello
		transport byte
		ja4, ja4r string // ja4r checked when set
		ja4o      string // checked when set
		ja4ro     string // checked when set
	}{
		{
			name: "specification example", h: specHello(), transport: TransportTCP,
			ja4:   "t13d1516h2_8daaf6152771_e5627efa2ab1",
			ja4r:  "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
			ja4o:  "t13d1516h2_acb858a92679_18f69afefd3d",
			ja4ro: "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,0601",
		},
		{
			name: "GREASE everywhere is ignored", h: withGREASE(specHello()), transport: TransportTCP,
			ja4:  "t13d1516h2_8daaf6152771_e5627efa2ab1",
			ja4o: "t13d1516h2_acb858a92679_18f69afefd3d",
		},
		{
			name: "QUIC", h: specHello(), transport: TransportQUIC,
			ja4: "q13d1516h2_8daaf6152771_e5627efa2ab1",
		},
		{
			name: "no SNI", transport: TransportTCP,
			h:   hello{ciphers: []uint16{0x1301}, exts: []Extension{alpn("h2"), sigs}},
			ja4: "t12i0102h2_" + h12("1301") + "_" + h12("000d_0403,0804"),
		},
		{
			name: "no ALPN", transport: TransportTCP,
			h:    hello{ciphers: []uint16{0x1301}, exts: []Extension{sni("a"), sigs}},
			ja4:  "t12d010200_" + h12("1301") + "_" + h12("000d_0403,0804"),
			ja4r: "t12d010200_1301_000d_0403,0804",
		},
		{
			name: "no signature algorithms: no underscore", transport: TransportTCP,
			h:    hello{ciphers: []uint16{0x1301}, exts: []Extension{empty(0x0017), u16list(ExtSignatureAlgorithms, false)}},
			ja4:  "t12i010200_" + h12("1301") + "_" + h12("000d,0017"),
			ja4r: "t12i010200_1301_000d,0017",
		},
		{
			name: "specification's hash without signature algorithms", transport: TransportTCP,
			h: hello{ciphers: []uint16{0x1301}, exts: []Extension{
				empty(0x0005), empty(0x000a), empty(0x000b), u16list(ExtSignatureAlgorithms, false),
				empty(0x0012), empty(0x0015), empty(0x0017), empty(0x001b), empty(0x0023), empty(0x002b),
				empty(0x002d), empty(0x0033), empty(0x4469), empty(0xff01)}},
			ja4: "t12i011400_" + h12("1301") + "_6d807ffa2a79",
		},
		{
			name: "no ciphers, no extensions", transport: TransportTCP,
			h:    hello{noExts: true},
			ja4:  "t12i000000_000000000000_000000000000",
			ja4r: "t12i000000__",
		},
		{
			name: "only SNI and ALPN: empty sorted extension list", transport: TransportTCP,
			h:    hello{ciphers: []uint16{0x0a0a}, exts: []Extension{sni("x"), alpn("http/1.1")}},
			ja4:  "t12d0002h1_000000000000_000000000000",
			ja4o: "t12d0002h1_000000000000_" + h12("0000,0010"),
		},
		{
			name: "TLS 1.0 legacy version", transport: TransportTCP,
			h:   hello{version: 0x0301, ciphers: []uint16{0x002f}, noExts: true},
			ja4: "t10i010000_" + h12("002f") + "_000000000000",
		},
		{
			name: "SSL 3.0", transport: TransportTCP,
			h:   hello{version: 0x0300, ciphers: []uint16{0x002f}, noExts: true},
			ja4: "ts3i010000_" + h12("002f") + "_000000000000",
		},
		{
			name: "unknown version", transport: TransportTCP,
			h:   hello{version: 0x0305, ciphers: []uint16{0x002f}, noExts: true},
			ja4: "t00i010000_" + h12("002f") + "_000000000000",
		},
		{
			name: "DTLS 1.2", transport: TransportDTLS,
			h:   hello{version: 0xfefd, ciphers: []uint16{0x002f}, noExts: true},
			ja4: "dd2i010000_" + h12("002f") + "_000000000000",
		},
		{
			name: "supported_versions of GREASE only: legacy version", transport: TransportTCP,
			h:   hello{version: 0x0302, ciphers: []uint16{0x002f}, exts: []Extension{u16list(ExtSupportedVersions, true, 0x0a0a)}},
			ja4: "t11i010100_" + h12("002f") + "_" + h12("002b"),
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ch := parse(t, tt.h)
			if got := JA4(ch, tt.transport); got != tt.ja4 {
				t.Errorf("JA4\n got %s\nwant %s", got, tt.ja4)
			}
			for _, c := range []struct {
				name string
				f    func(*ClientHello, byte) string
				want string
			}{{"JA4_r", JA4R, tt.ja4r}, {"JA4_o", JA4O, tt.ja4o}, {"JA4_ro", JA4RO, tt.ja4ro}} {
				if c.want == "" {
					continue
				}
				if got := c.f(ch, tt.transport); got != c.want {
					t.Errorf("%s\n got %s\nwant %s", c.name, got, c.want)
				}
			}
		})
	}
}

func TestJA4CountsCapped(t *testing.T) {
	ch := parse(t, manyHello(120, 110))
	if got := JA4(ch, 't'); got[:11] != "t12i999900_" {
		t.Errorf("JA4 %s", got)
	}
	if got := JA4R(ch, 't'); len(got) != 11+120*5-1+1+110*5-1 {
		t.Errorf("JA4_r has %d characters", len(got))
	}
}

// manyHello returns a hello with n ciphers and m extensions.
func manyHello(n, m int) hello {
	var h hello
	for i := range n {
		h.ciphers = append(h.ciphers, uint16(0x1000+i))
	}
	for i := range m {
		h.exts = append(h.exts, empty(uint16(0x2000+i)))
	}
	return h
}

func parseBody(b []byte) *ClientHello {
	ch, err := ParseClientHello(b)
	if err != nil {
		panic(err)
	}
	return ch
}

// h12 is the truncated hash of JA4, computed independently.
func h12(s string) string {
	return hash12(s, false)
}

func TestHash12(t *testing.T) {
	// The specification's examples.
	for s, want := range map[string]string{
		"002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9":                                    "8daaf6152771",
		"0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601": "e5627efa2ab1",
		"0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01":                                         "6d807ffa2a79",
	} {
		if got := h12(s); got != want {
			t.Errorf("hash12(%s) = %s, want %s", s, got, want)
		}
	}
}

func TestJA4ALPN(t *testing.T) {
	for _, tt := range []struct {
		alpn []string
		want string
	}{
		{nil, "00"},
		{[]string{""}, "00"},
		{[]string{"", "h2"}, "00"},
		{[]string{"h2"}, "h2"},
		{[]string{"http/1.1", "h2"}, "h1"},
		{[]string{"h3"}, "h3"},
		{[]string{"x"}, "xx"},
		{[]string{"Z9"}, "Z9"},
		// The specification's examples of non-alphanumeric ends.
		{[]string{"\xab"}, "ab"},
		{[]string{"\xab\xcd"}, "ad"},
		{[]string{"\x30\xab"}, "3b"},
		{[]string{"\x30\x31\xab\xcd"}, "3d"},
		{[]string{"\x30\xab\xcd\x31"}, "01"},
		// The FoxIO tls-non-ascii-alpn capture.
		{[]string{"\xba\xad", "http/1.1"}, "bd"},
		{[]string{"/"}, "2f"},
		{[]string{"h/"}, "6f"},
		{[]string{"-h"}, "28"},
	} {
		if got := ja4ALPN(tt.alpn); got != tt.want {
			t.Errorf("ALPN %q: %q, want %q", tt.alpn, got, tt.want)
		}
		// Through the parser too.
		if len(tt.alpn) > 0 {
			ch := parse(t, hello{exts: []Extension{alpn(tt.alpn...)}})
			if got := JA4(ch, 't')[8:10]; got != tt.want {
				t.Errorf("JA4 ALPN %q: %q, want %q", tt.alpn, got, tt.want)
			}
		}
	}
}

func TestJA3(t *testing.T) {
	h := hello{
		version: 0x0303,
		ciphers: []uint16{0x0a0a, 0x1301, 0xc02b},
		exts: []Extension{
			empty(0x2a2a), sni("a.example"),
			u16list(ExtSupportedGroups, false, 0x4a4a, 0x001d, 0x0017),
			pointFormats(0, 1), empty(0x0023), empty(0xfafa),
		},
	}
	full, sum := JA3(parse(t, h))
	const want = "771,4865-49195,0-10-11-35,29-23,0-1"
	if full != want {
		t.Errorf("JA3 %q, want %q", full, want)
	}
	m := md5.Sum([]byte(want))
	if sum != hex.EncodeToString(m[:]) {
		t.Errorf("JA3 hash %s", sum)
	}
	full, _ = JA3(parse(t, hello{version: 0x0301, noExts: true}))
	if full != "769,,,," {
		t.Errorf("empty JA3 %q", full)
	}
}

func TestParseClientHelloErrors(t *testing.T) {
	good := specHello().body()
	// Every strict prefix is an error, never a panic, except the one
	// that ends right after the compression methods (no extensions).
	noExtLen := len(hello{ciphers: specHello().ciphers, noExts: true}.body())
	for n := range len(good) {
		_, err := ParseClientHello(good[:n])
		if n == noExtLen {
			if err != nil {
				t.Errorf("prefix %d (no extensions): %v", n, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("prefix %d: %v", n, err)
		}
	}
	long := hello{sessionID: make([]byte, 33)}.body()
	if _, err := ParseClientHello(long); !errors.Is(err, ErrMalformed) {
		t.Errorf("33-byte session id: %v", err)
	}
	odd := good[:0:0]
	odd = append(odd, good[:35]...)
	odd = append(odd, 0, 3, 0x13, 0x01, 0x13) // odd cipher_suites length
	if _, err := ParseClientHello(odd); !errors.Is(err, ErrMalformed) {
		t.Errorf("odd cipher suites: %v", err)
	}
	if _, err := ParseClientHello(make([]byte, MaxClientHelloLen+1)); !errors.Is(err, ErrTooLong) {
		t.Errorf("too long: %v", err)
	}
}

func TestParseClientHelloMalformedExtensions(t *testing.T) {
	// Malformed contents of known extensions leave the decoded fields
	// empty but do not fail the parse; JA4 still sees the types.
	h := hello{exts: []Extension{
		{ExtServerName, []byte{0, 9, 0}},
		{ExtALPN, []byte{0, 3, 5, 'h'}},
		{ExtSupportedVersions, []byte{3, 3, 4, 3}},
		{ExtSignatureAlgorithms, []byte{0}},
		{ExtSupportedGroups, []byte{0, 1, 0}},
		{ExtECPointFormats, []byte{2, 0}},
	}}
	ch := parse(t, h)
	if !ch.HasSNI || ch.ServerName != "" || ch.ALPN != nil || ch.SupportedVersions != nil ||
		ch.SignatureAlgorithms != nil || ch.SupportedGroups != nil || ch.ECPointFormats != nil {
		t.Errorf("%+v", ch)
	}
	if got := JA4(ch, 't')[:10]; got != "t12d000600" {
		t.Errorf("JA4 %s", got)
	}
}

func TestParseRecord(t *testing.T) {
	msg := withGREASE(specHello()).message()
	want := JA4(parseBody(msg[4:]), 't')
	for _, size := range []int{1, 2, 3, 4, 5, 100, 512, len(msg) - 1, len(msg), maxRecordLen} {
		stream := records(msg, size)
		ch, need, err := ParseRecord(stream)
		if err != nil || need != 0 {
			t.Fatalf("records of %d: need %d, %v", size, need, err)
		}
		if got := JA4(ch, 't'); got != want {
			t.Errorf("records of %d: JA4 %s, want %s", size, got, want)
		}
		// Trailing bytes (the next record) are ignored.
		if _, need, err := ParseRecord(append(stream, 23, 3, 3, 0, 1, 0)); err != nil || need != 0 {
			t.Errorf("records of %d with trailer: need %d, %v", size, need, err)
		}
		// Every strict prefix asks for more, and never for more than
		// is missing.
		for n := range len(stream) {
			ch, need, err := ParseRecord(stream[:n])
			if ch != nil || err != nil || need <= 0 || need > len(stream)-n {
				t.Fatalf("records of %d, prefix %d/%d: ch %v need %d, %v", size, n, len(stream), ch != nil, need, err)
			}
			if size >= len(msg) && n >= recordHeaderLen+handshakeHeaderLen && need != len(stream)-n {
				t.Errorf("single record, prefix %d: need %d, want %d", n, need, len(stream)-n)
			}
		}
	}
}

func TestParseRecordErrors(t *testing.T) {
	msg := specHello().message()
	one := records(msg, len(msg))
	mod := func(f func(b []byte) []byte) []byte {
		return f(bytes.Clone(one))
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"application data record", mod(func(b []byte) []byte { b[0] = 23; return b }), ErrNotHandshake},
		{"first byte only", []byte{0x17}, ErrNotHandshake},
		{"SSLv2 hello", []byte{0x80, 0x2e, 0x01, 0x03, 0x01}, ErrNotHandshake},
		{"HTTP", []byte("GET / HTTP/1.1\r\n"), ErrNotHandshake},
		{"bad record version", []byte{22, 0x7f, 1}, ErrMalformed},
		{"empty record", []byte{22, 3, 1, 0, 0, 1}, ErrMalformed},
		{"record too long", []byte{22, 3, 1, 0x40, 0x01}, ErrMalformed},
		{"ServerHello", mod(func(b []byte) []byte { b[5] = 2; return b }), ErrNotHandshake},
		{"message too long", []byte{22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x01}, ErrTooLong},
		{"bad body", records([]byte{1, 0, 0, 3, 3, 3, 0}, 7), ErrMalformed},
		{"second record not handshake", append(records(msg[:10], 10), 21, 3, 3, 0, 2, 2, 40), ErrNotHandshake},
	} {
		ch, need, err := ParseRecord(tt.in)
		if !errors.Is(err, tt.want) || ch != nil || need != 0 {
			t.Errorf("%s: ch %v need %d err %v, want %v", tt.name, ch != nil, need, err, tt.want)
		}
	}
	if _, need, err := ParseRecord(nil); err != nil || need != recordHeaderLen+handshakeHeaderLen {
		t.Errorf("empty: need %d, %v", need, err)
	}
}
