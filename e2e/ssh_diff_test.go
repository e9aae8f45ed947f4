package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The SSH algorithm lists, by difference: Debian's sshd (OpenSSH 9.2p1)
// runs in one lab, masscanned in another, the same ssh -vvv client asks
// both; masscanned must offer sshd's lists in sshd's order, less what
// golang.org/x/crypto/ssh does not implement (listed here, and in the
// README).
var sshLibraryLacks = map[string]bool{
	"sntrup761x25519-sha512@openssh.com": true,
	"sntrup761x25519-sha512":             true,
	"mlkem768x25519-sha256":              true, // OpenSSH 9.9+, not in 9.2
	"diffie-hellman-group18-sha512":      true,
	"umac-64-etm@openssh.com":            true,
	"umac-128-etm@openssh.com":           true,
	"hmac-sha1-etm@openssh.com":          true,
	"umac-64@openssh.com":                true,
	"umac-128@openssh.com":               true,
	"zlib@openssh.com":                   true,
	// x/crypto/ssh's own extension markers differ from sshd's
	"kex-strict-s-v00@openssh.com": true,
	"ext-info-s":                   true,
}

// sshProposal runs ssh -vvv and returns the server's KEXINIT lists.
func sshProposal(t *testing.T, l *Lab) map[string][]string {
	t.Helper()
	out, _ := l.InClient(20*time.Second, "ssh", "-vvv", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "diff@"+RespIP4, "true")
	i := strings.Index(out, "peer server KEXINIT proposal")
	if i < 0 {
		t.Fatalf("no server proposal in ssh -vvv:\n%s", out)
	}
	m := map[string][]string{}
	re := regexp.MustCompile(`debug2: (KEX algorithms|host key algorithms|ciphers ctos|MACs ctos|compression ctos): (.*)`)
	for _, line := range strings.Split(out[i:], "\n") {
		if g := re.FindStringSubmatch(line); g != nil {
			if _, seen := m[g[1]]; !seen {
				m[g[1]] = strings.Split(strings.TrimSpace(g[2]), ",")
			}
		}
	}
	m["banner"] = []string{regexp.MustCompile(`remote software version (\S+)`).FindStringSubmatch(out)[1]}
	return m
}

func TestSSHDiff(t *testing.T) {
	Require(t, "ssh", "sshd")
	var kernel, ours map[string][]string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		k := NewLab(t, LabOptions{Kernel: true, NoClientIPv6: true})
		dir := k.Dir
		for _, typ := range []string{"rsa", "ecdsa", "ed25519"} {
			k.must("ssh-keygen", "-q", "-t", typ, "-N", "", "-f", filepath.Join(dir, "ssh_host_"+typ+"_key"))
		}
		k.must("mkdir", "-p", "/run/sshd")
		// Debian 12's sshd with its default configuration and host keys
		if !k.RunInResp("22", "/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config",
			"-o", "HostKey="+filepath.Join(dir, "ssh_host_rsa_key"), "-o", "HostKey="+filepath.Join(dir, "ssh_host_ecdsa_key"),
			"-o", "HostKey="+filepath.Join(dir, "ssh_host_ed25519_key"), "-o", "PidFile=none") {
			return
		}
		kernel = sshProposal(t, k)
	}()
	go func() {
		defer wg.Done()
		m := NewLab(t, LabOptions{NoClientIPv6: true})
		m.Start()
		ours = sshProposal(t, m)
	}()
	wg.Wait()
	if kernel == nil || ours == nil {
		t.FailNow()
	}
	for _, k := range []string{"banner", "KEX algorithms", "ciphers ctos", "MACs ctos", "compression ctos", "host key algorithms"} {
		var want []string
		for _, a := range kernel[k] {
			if !sshLibraryLacks[a] {
				want = append(want, a)
			}
		}
		var got []string
		for _, a := range ours[k] {
			if !sshLibraryLacks[a] {
				got = append(got, a)
			}
		}
		t.Logf("%-20s sshd:       %s", k, strings.Join(kernel[k], ","))
		t.Logf("%-20s masscanned: %s", k, strings.Join(ours[k], ","))
		if k == "host key algorithms" {
			continue // depends on the keys: compared once per-host keys exist
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: masscanned %v, sshd %v (less what the library lacks)", k, got, want)
		}
	}
}
