package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostKeysPregenerated: the SSH host keys and TLS certificate of a
// profile host are generated at startup, in the background, before any
// client connects; the first client then gets those keys.
func TestHostKeysPregenerated(t *testing.T) {
	Require(t, "ssh-keyscan", "openssl")
	t.Parallel()
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	state := filepath.Join(l.Dir, "state")
	l.Start("--state-dir", state, "--profile", writeProfile(t, l,
		"name = \"pregen\"\ntcp = [22, 443]\n[host.banners]\nhostname = \"mail.example.test\"\n"))
	var files []string
	for i := 0; i < 600; i++ {
		files = nil
		for _, f := range []string{"ssh_host_rsa_key.pub", "ssh_host_ecdsa_key.pub", "ssh_host_ed25519_key.pub", "tls.crt"} {
			m, _ := filepath.Glob(filepath.Join(state, "pregen-*", f))
			files = append(files, m...)
		}
		if len(files) == 4 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(files) != 4 {
		t.Fatalf("no host keys generated for the profile host before any connection: %v\n%s", files, l.Stderr())
	}
	pub, err := os.ReadFile(files[2])
	if err != nil {
		t.Fatal(err)
	}
	out, err := l.InClient(30*time.Second, "ssh-keyscan", "-t", "ed25519", "-T", "10", RespIP4)
	f := strings.Fields(string(pub))
	if err != nil || len(f) < 2 || !strings.Contains(out, f[0]+" "+f[1]) {
		t.Errorf("ssh-keyscan: %v\n%s\nwant the pre-generated key %s", err, out, pub)
	}
	out, err = l.InClient(30*time.Second, "sh", "-c", "openssl s_client -connect "+RespIP4+":443 </dev/null 2>/dev/null | openssl x509 -noout -subject -fingerprint -sha256")
	crt, _ := l.InClient(10*time.Second, "openssl", "x509", "-in", files[3], "-noout", "-subject", "-fingerprint", "-sha256")
	if err != nil || !strings.Contains(out, "CN = mail.example.test") || strings.TrimSpace(out) != strings.TrimSpace(crt) {
		t.Errorf("certificate served: %v\n%s\nwant the pre-generated one:\n%s", err, out, crt)
	}
}
