package tlsfp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"testing"
)

// rfcDCID is the destination connection ID of the test vectors of RFC
// 9001 Appendix A and RFC 9369 Appendix A.
var rfcDCID = []byte{0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08}

func TestInitialKeys(t *testing.T) {
	for _, tt := range []struct {
		p           *quicParams
		key, iv, hp string
	}{
		// RFC 9001 Appendix A.1.
		{&quicV1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		// RFC 9369 Appendix A.1.
		{&quicV2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
	} {
		key, iv, hp := initialKeys(tt.p, rfcDCID)
		if hex.EncodeToString(key) != tt.key || hex.EncodeToString(iv) != tt.iv || hex.EncodeToString(hp) != tt.hp {
			t.Errorf("%s: key %x iv %x hp %x", tt.p.keyLabel, key, iv, hp)
		}
	}
}

// frame builders.

func varint(v uint64) []byte {
	switch {
	case v < 1<<6:
		return []byte{byte(v)}
	case v < 1<<14:
		return []byte{0x40 | byte(v>>8), byte(v)}
	case v < 1<<30:
		return []byte{0x80 | byte(v>>24), byte(v >> 16), byte(v >> 8), byte(v)}
	}
	return []byte{0xc0 | byte(v>>56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func cryptoFrame(off int, data []byte) []byte {
	f := append([]byte{frameCrypto}, varint(uint64(off))...)
	f = append(f, varint(uint64(len(data)))...)
	return append(f, data...)
}

// sealInitial builds a client Initial packet of version p carrying
// frames, protected as RFC 9001 §5 says: the inverse of openInitial.
func sealInitial(t testing.TB, p *quicParams, version uint32, dcid []byte, pn uint32, pnLen int, frames []byte) []byte {
	t.Helper()
	// Pad so that the header protection sample exists.
	for len(frames) < 4 {
		frames = append(frames, framePadding)
	}
	key, iv, hp := initialKeys(p, dcid)
	hdr := []byte{0xc0 | p.initialType<<4 | byte(pnLen-1), byte(version >> 24), byte(version >> 16), byte(version >> 8), byte(version)}
	hdr = append(hdr, byte(len(dcid)))
	hdr = append(hdr, dcid...)
	hdr = append(hdr, 3, 's', 'r', 'c') // source connection ID
	hdr = append(hdr, 0)                // token length
	length := pnLen + len(frames) + tagLen
	hdr = append(hdr, 0x40|byte(length>>8), byte(length))
	pnOffset := len(hdr)
	for i := pnLen - 1; i >= 0; i-- {
		hdr = append(hdr, byte(pn>>(8*i)))
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := bytes.Clone(iv)
	for i := range 4 {
		nonce[len(nonce)-1-i] ^= byte(pn >> (8 * i))
	}
	pkt := aead.Seal(bytes.Clone(hdr), nonce, frames, hdr)
	hpBlock, _ := aes.NewCipher(hp)
	var mask [16]byte
	hpBlock.Encrypt(mask[:], pkt[pnOffset+4:pnOffset+4+16])
	pkt[0] ^= mask[0] & 0x0f
	for i := range pnLen {
		pkt[pnOffset+i] ^= mask[1+i]
	}
	return pkt
}

func TestParseQUICInitial(t *testing.T) {
	h := withGREASE(specHello())
	msg := h.message()
	want := JA4(parseBody(msg[4:]), TransportQUIC)
	a, b, c := msg[:60], msg[60:150], msg[150:]
	padding := make([]byte, 300)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	v1 := func(frames []byte) []byte { return sealInitial(t, &quicV1, QUICVersion1, rfcDCID, 0, 1, frames) }

	for _, tt := range []struct {
		name     string
		datagram []byte
		want     error
	}{
		{"one CRYPTO frame", v1(cat(cryptoFrame(0, msg), padding)), nil},
		{"out of order with PING and PADDING", v1(cat([]byte{framePing}, cryptoFrame(150, c), padding[:7],
			cryptoFrame(0, a), []byte{framePing}, cryptoFrame(60, b), padding)), nil},
		{"overlapping frames", v1(cat(cryptoFrame(50, msg[50:]), cryptoFrame(0, msg[:120]))), nil},
		{"ACK frames", v1(cat([]byte{frameACK, 0, 0, 1, 0, 0, 0}, []byte{frameACKECN, 5, 0, 0, 1, 1, 2, 3}, cryptoFrame(0, msg))), nil},
		{"4-byte packet number", sealInitial(t, &quicV1, QUICVersion1, rfcDCID, 0x01020304, 4, cryptoFrame(0, msg)), nil},
		{"long DCID", sealInitial(t, &quicV1, QUICVersion1, bytes.Repeat([]byte{9}, 20), 2, 2, cryptoFrame(0, msg)), nil},
		{"QUIC v2", sealInitial(t, &quicV2, QUICVersion2, rfcDCID, 0, 1, cat(cryptoFrame(0, msg), padding)), nil},
		{"coalesced Initials", cat(v1(cat(cryptoFrame(60, cat(b, c)), padding[:20])), v1(cryptoFrame(0, a))), nil},
		{"Initial then undecryptable packet", cat(v1(cryptoFrame(0, msg)), []byte{0xd0, 0, 0, 0, 1, 0, 0}), nil},
		{"CONNECTION_CLOSE ends the frames", v1(cat(cryptoFrame(0, msg), []byte{frameConnectionClose, 0x0a}, padding)), nil},
		{"missing middle", v1(cat(cryptoFrame(0, a), cryptoFrame(150, c))), ErrIncomplete},
		{"missing start", v1(cat(cryptoFrame(60, cat(b, c)))), ErrIncomplete},
		{"no CRYPTO", v1(cat([]byte{framePing}, padding)), ErrIncomplete},
		{"STREAM frame", v1(cat(cryptoFrame(0, msg), []byte{0x08, 0, 0})), ErrMalformed},
		{"CRYPTO past the bound", v1(cat(cryptoFrame(maxCryptoEnd, []byte{1}))), ErrTooLong},
		{"CRYPTO longer than the packet", v1(cat([]byte{frameCrypto, 0, 0x44, 0}, []byte("ab"))), ErrMalformed},
		{"not a ClientHello", v1(cryptoFrame(0, []byte{2, 0, 0, 1, 0})), ErrNotHandshake},
		{"bad ClientHello", v1(cryptoFrame(0, []byte{1, 0, 0, 2, 3, 3})), ErrMalformed},
		{"bad tag", func() []byte { d := v1(cryptoFrame(0, msg)); d[len(d)-1] ^= 1; return d }(), ErrQUICDecrypt},
		{"v2 keys with v1 header", func() []byte {
			d := sealInitial(t, &quicV2, QUICVersion2, rfcDCID, 0, 1, cryptoFrame(0, msg))
			d[0] &^= 0x30 // the v1 Initial type
			d[1], d[2], d[3], d[4] = 0, 0, 0, 1
			return d
		}(), ErrQUICDecrypt},
		{"v1 packet type for v2", sealInitial(t, &quicV1, QUICVersion2, rfcDCID, 0, 1, cryptoFrame(0, msg)), ErrNotQUICInitial},
		{"unknown version", sealInitial(t, &quicV1, 0xff00001d, rfcDCID, 0, 1, cryptoFrame(0, msg)), ErrNotQUICInitial},
		{"short header", []byte{0x40, 1, 2, 3, 4, 5, 6, 7, 8}, ErrNotQUICInitial},
		{"empty", nil, ErrNotQUICInitial},
		{"DNS query", []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, ErrNotQUICInitial},
	} {
		t.Run(tt.name, func(t *testing.T) {
			orig := bytes.Clone(tt.datagram)
			ch, err := ParseQUICInitial(tt.datagram)
			if !bytes.Equal(orig, tt.datagram) {
				t.Error("datagram modified")
			}
			if tt.want != nil {
				if !errors.Is(err, tt.want) || ch != nil {
					t.Errorf("err %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := JA4(ch, TransportQUIC); got != want {
				t.Errorf("JA4 %s, want %s", got, want)
			}
		})
	}
}

func TestParseQUICInitialCorrupt(t *testing.T) {
	msg := specHello().message()
	d := sealInitial(t, &quicV1, QUICVersion1, rfcDCID, 0, 1, cryptoFrame(0, msg))
	// Every truncation and every single-bit flip fails cleanly.
	for n := range len(d) {
		if ch, err := ParseQUICInitial(d[:n]); err == nil || ch != nil {
			t.Fatalf("prefix %d: no error", n)
		}
	}
	for i := range len(d) {
		c := bytes.Clone(d)
		c[i] ^= 0x10
		if ch, err := ParseQUICInitial(c); err == nil && ch != nil {
			// Header and payload are authenticated: no flip can
			// still yield a ClientHello.
			t.Errorf("flip at %d: parsed", i)
		}
	}
}
