package e2e

import (
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// TLS by difference: Debian's OpenSSL (openssl s_server, the library
// nginx uses, default configuration) and masscanned answer the same
// openssl s_client offers, TLS 1.0 to 1.3; the negotiated version, or
// the refusal, must be the same. The cipher each picks is reported (Go's
// crypto/tls chooses by its own preference, OpenSSL by the server's list).
type tlsOutcome struct{ proto, cipher string }

var (
	reProto  = regexp.MustCompile(`(?m)^\s*Protocol\s*:\s*(\S+)`)
	reCipher = regexp.MustCompile(`(?m)^\s*Cipher\s*:\s*(\S+)`)
	reNew    = regexp.MustCompile(`New, (\S+), Cipher is (\S+)`)
)

func tlsOffer(t *testing.T, l *Lab, addr, version string) tlsOutcome {
	t.Helper()
	// SECLEVEL=0 on the client so that it can offer TLS 1.0 and 1.1 at all
	out, _ := l.InClient(20*time.Second, "sh", "-c", "echo | openssl s_client -connect "+addr+":443 "+version+
		" -cipher DEFAULT@SECLEVEL=0 -servername www.example.test 2>&1")
	if g := reNew.FindStringSubmatch(out); g != nil && g[2] != "(NONE)" {
		o := tlsOutcome{proto: g[1], cipher: g[2]}
		if p := reProto.FindStringSubmatch(out); p != nil {
			o.proto = p[1]
		}
		if c := reCipher.FindStringSubmatch(out); c != nil {
			o.cipher = c[1]
		}
		return o
	}
	return tlsOutcome{proto: "refused"}
}

func TestTLSDiff(t *testing.T) {
	Require(t, "openssl")
	versions := []string{"-tls1", "-tls1_1", "-tls1_2", "-tls1_3"}
	ref := map[string]tlsOutcome{}
	ours := map[string]tlsOutcome{}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		k := NewLab(t, LabOptions{Kernel: true, NoClientIPv6: true})
		crt, key := filepath.Join(k.Dir, "c.pem"), filepath.Join(k.Dir, "k.pem")
		k.must("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=localhost",
			"-keyout", key, "-out", crt)
		if !k.RunInResp("443", "openssl", "s_server", "-accept", "443", "-cert", crt, "-key", key, "-www", "-quiet") {
			return
		}
		for _, v := range versions {
			ref[v] = tlsOffer(t, k, RespIP4, v)
		}
	}()
	go func() {
		defer wg.Done()
		m := NewLab(t, LabOptions{NoClientIPv6: true})
		m.Start()
		for _, v := range versions {
			ours[v] = tlsOffer(t, m, RespIP4, v)
		}
	}()
	wg.Wait()
	for _, v := range versions {
		t.Logf("%-8s openssl s_server: %-8s %-32s masscanned: %-8s %s", v, ref[v].proto, ref[v].cipher, ours[v].proto, ours[v].cipher)
		if ref[v].proto != ours[v].proto {
			t.Errorf("%s: OpenSSL %s, masscanned %s", v, ref[v].proto, ours[v].proto)
		}
	}
}
