package tlsfp

import (
	"bytes"
	"errors"
	"testing"
)

// maxSealedFrames bounds the fuzz inputs that FuzzParseQUICInitial also
// seals as the frames of an Initial packet.
const maxSealedFrames = 1400

// checkHello computes every fingerprint of ch: none may panic, and each
// must have the expected shape.
func checkHello(t *testing.T, ch *ClientHello, transport byte) {
	t.Helper()
	full, sum := JA3(ch)
	if len(sum) != 32 || full == "" {
		t.Fatalf("JA3 %q %q", full, sum)
	}
	fp := JA4(ch, transport)
	if len(fp) != 36 || fp[0] != transport || fp[10] != '_' || fp[23] != '_' {
		t.Fatalf("JA4 %q", fp)
	}
	if o := JA4O(ch, transport); len(o) != 36 || o[:10] != fp[:10] {
		t.Fatalf("JA4_o %q, JA4 %q", o, fp)
	}
	if r := JA4R(ch, transport); r[:11] != fp[:11] {
		t.Fatalf("JA4_r %q, JA4 %q", r, fp)
	}
	if ro := JA4RO(ch, transport); ro[:11] != fp[:11] {
		t.Fatalf("JA4_ro %q, JA4 %q", ro, fp)
	}
}

// FuzzParseRecord feeds arbitrary streams to ParseRecord and arbitrary
// bodies to ParseClientHello.
func FuzzParseRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		ch, need, err := ParseRecord(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("input modified")
		}
		switch {
		case err != nil:
			if ch != nil || need != 0 {
				t.Fatalf("error %v with ch %v need %d", err, ch != nil, need)
			}
		case need > 0:
			if ch != nil {
				t.Fatal("need > 0 with a ClientHello")
			}
		default:
			if ch == nil {
				t.Fatal("no ClientHello, no need, no error")
			}
			checkHello(t, ch, TransportTCP)
			// Bytes after the ClientHello change nothing.
			ch2, need2, err2 := ParseRecord(append(bytes.Clone(b), 22, 3, 3, 0, 1, 1))
			if err2 != nil || need2 != 0 || JA4R(ch2, 't') != JA4R(ch, 't') {
				t.Fatalf("with a trailer: need %d, %v", need2, err2)
			}
		}
		if ch, err := ParseClientHello(b); err == nil {
			checkHello(t, ch, TransportTCP)
		} else if ch != nil {
			t.Fatal("error with a ClientHello")
		}
	})
}

// FuzzParseQUICInitial feeds arbitrary datagrams to ParseQUICInitial, and,
// since random bytes never pass AEAD authentication, also seals short
// inputs as the frames of a valid Initial packet, reaching the frame walk
// and CRYPTO reassembly.
func FuzzParseQUICInitial(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		ch, err := ParseQUICInitial(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("input modified")
		}
		if err == nil {
			checkHello(t, ch, TransportQUIC)
		} else if ch != nil {
			t.Fatal("error with a ClientHello")
		}
		if len(b) > maxSealedFrames {
			return
		}
		d := sealInitial(t, &quicV1, QUICVersion1, rfcDCID, 0, 1, b)
		ch, err = ParseQUICInitial(d)
		switch {
		case err == nil:
			checkHello(t, ch, TransportQUIC)
		case errors.Is(err, ErrNotQUICInitial), errors.Is(err, ErrQUICDecrypt):
			t.Fatalf("sealed Initial: %v", err)
		}
	})
}
