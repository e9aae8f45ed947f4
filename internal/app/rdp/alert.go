package rdp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net"
	"strings"
	"sync"
)

// Windows refuses a CredSSP client older than version 3 (which has no
// errorCode) with a TLS access_denied alert. crypto/tls sends no alert
// after the handshake, so the record is made here from the session's
// keys: the TLS 1.2 AES-GCM suites only (the RDP listener's), the master
// secret from the key log, the server random from the ServerHello, the
// sequence number by counting the records written.

// rdpSuites are the suites offered: ECDHE with AES-GCM, as Windows
// Server 2019 prefers them.
var rdpSuites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
}

// alertTap watches the server's side of a TLS 1.2 connection.
type alertTap struct {
	net.Conn
	mu           sync.Mutex
	master       []byte
	clientRandom []byte
	serverRandom []byte
	// record parsing of what we write
	hdr      []byte
	skip     int
	afterCCS bool
	seq      uint64 // records written since our ChangeCipherSpec
	first    bool   // the first handshake record (ServerHello) seen
}

// Write implements net.Conn, following the record boundaries.
func (t *alertTap) Write(b []byte) (int, error) {
	t.mu.Lock()
	t.follow(b)
	t.mu.Unlock()
	return t.Conn.Write(b)
}

func (t *alertTap) follow(b []byte) {
	for len(b) > 0 {
		if t.skip > 0 {
			n := min(t.skip, len(b))
			t.skip -= n
			b = b[n:]
			continue
		}
		need := 5 - len(t.hdr)
		n := min(need, len(b))
		t.hdr = append(t.hdr, b[:n]...)
		rest := b[n:]
		if len(t.hdr) < 5 {
			return
		}
		typ := t.hdr[0]
		t.skip = int(binary.BigEndian.Uint16(t.hdr[3:]))
		t.hdr = t.hdr[:0]
		if typ == 22 && !t.first && len(rest) >= 38 && rest[0] == 2 {
			t.first = true
			t.serverRandom = append([]byte(nil), rest[6:38]...)
		}
		if t.afterCCS {
			t.seq++
		}
		if typ == 20 {
			t.afterCCS = true
		}
		b = rest
	}
}

// keyLog receives crypto/tls's key log lines.
type keyLog struct{ t *alertTap }

func (k keyLog) Write(b []byte) (int, error) {
	f := strings.Fields(string(b))
	if len(f) == 3 && f[0] == "CLIENT_RANDOM" {
		cr, err1 := hex.DecodeString(f[1])
		m, err2 := hex.DecodeString(f[2])
		if err1 == nil && err2 == nil {
			k.t.mu.Lock()
			k.t.clientRandom, k.t.master = cr, m
			k.t.mu.Unlock()
		}
	}
	return len(b), nil
}

// prf12 is the TLS 1.2 PRF (RFC 5246 section 5).
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	s := append([]byte(label), seed...)
	mac := hmac.New(h, secret)
	mac.Write(s)
	a := mac.Sum(nil)
	var out []byte
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(s)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(nil)
	}
	return out[:n]
}

// accessDenied writes a fatal access_denied alert on the raw connection
// of tc (whose tap is t). It reports whether it could.
func (t *alertTap) accessDenied(tc *tls.Conn) bool {
	st := tc.ConnectionState()
	if st.Version != tls.VersionTLS12 {
		return false
	}
	keyLen, h := 16, sha256.New
	switch st.CipherSuite {
	case tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
		keyLen, h = 32, sha512.New384
	case tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
	default:
		return false
	}
	t.mu.Lock()
	master, sr, cr, seq := t.master, t.serverRandom, t.clientRandom, t.seq
	t.mu.Unlock()
	if len(master) != 48 || len(sr) != 32 || len(cr) != 32 {
		return false
	}
	kb := prf12(h, master, "key expansion", append(append([]byte(nil), sr...), cr...), 2*keyLen+8)
	key, iv := kb[keyLen:2*keyLen], kb[2*keyLen+4:2*keyLen+8]
	block, err := aes.NewCipher(key)
	if err != nil {
		return false
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return false
	}
	explicit := binary.BigEndian.AppendUint64(nil, seq)
	nonce := append(append([]byte(nil), iv...), explicit...)
	ad := append(append([]byte(nil), explicit...), 21, 3, 3, 0, 2)
	rec := []byte{21, 3, 3, 0, 0}
	rec = append(rec, explicit...)
	rec = aead.Seal(rec, nonce, []byte{2, 49}, ad)
	binary.BigEndian.PutUint16(rec[3:], uint16(len(rec)-5))
	_, err = t.Conn.Write(rec)
	return err == nil
}
