package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The SSH algorithm lists, by difference: Debian's sshd (OpenSSH 9.2p1)
// runs in one lab, masscanned in another, the same ssh -vvv and ssh-audit
// clients ask both; masscanned must offer sshd's lists in sshd's order,
// less what golang.org/x/crypto/ssh does not implement (listed here, and
// in the README) and the known differences (sshInherent).
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

// sshAudit runs ssh-audit -j and returns its lists (kex, key, enc, mac,
// compression; kex and key entries with their key sizes, as
// "name/size"), the banner's software and the host key fingerprints.
func sshAudit(t *testing.T, l *Lab) map[string][]string {
	t.Helper()
	out, _ := l.InClient(120*time.Second, "ssh-audit", "-j", "-t", "20", RespIP4)
	var r struct {
		Banner struct {
			Protocol []int
			Software string
			Comments string
		}
		Kex, Key []struct {
			Algorithm string
			Keysize   int
			Casize    int
		}
		Enc, Mac, Compression []string
		Fingerprints          []struct {
			Hostkey string
			HashAlg string `json:"hash_alg"`
		}
	}
	// ssh-audit 2.5.0 prints the JSON object on one line
	i := strings.Index(out, "{")
	if i < 0 || json.Unmarshal([]byte(out[i:]), &r) != nil {
		t.Fatalf("ssh-audit -j: no JSON:\n%s", out)
	}
	m := map[string][]string{
		"audit banner":      {r.Banner.Software, debianRevision.ReplaceAllString(r.Banner.Comments, "${1}N"), fmt.Sprint(r.Banner.Protocol)},
		"audit enc":         r.Enc,
		"audit mac":         r.Mac,
		"audit compression": r.Compression,
	}
	for _, e := range r.Kex {
		m["audit kex"] = append(m["audit kex"], sized(e.Algorithm, e.Keysize, e.Casize))
	}
	for _, e := range r.Key {
		m["audit key"] = append(m["audit key"], sized(e.Algorithm, e.Keysize, e.Casize))
	}
	for _, f := range r.Fingerprints {
		if f.HashAlg == "SHA256" {
			m["audit fingerprints"] = append(m["audit fingerprints"], f.Hostkey)
		}
	}
	return m
}

func sized(alg string, size, ca int) string {
	switch {
	case ca > 0:
		return fmt.Sprintf("%s/%d/%d", alg, size, ca)
	case size > 0:
		return fmt.Sprintf("%s/%d", alg, size)
	}
	return alg
}

// sshInherent lists the differences between Debian's sshd and masscanned
// that remain for a known reason (also in the README), besides what the
// library lacks (sshLibraryLacks): per list, a part of sshd's list (comma
// separated) and what masscanned shows instead.
var sshInherent = map[string][2]string{
	// golang.org/x/crypto/ssh orders an RSA key's signature algorithms
	// itself (algorithmsForKeyFormat), SHA-256 first; OpenSSH offers
	// SHA-512 first. The client chooses by its own order, so the chosen
	// algorithm is the same.
	"host key algorithms": {"rsa-sha2-512,rsa-sha2-256", "rsa-sha2-256,rsa-sha2-512"},
	"audit key":           {"rsa-sha2-512/3072,rsa-sha2-256/3072", "rsa-sha2-256/3072,rsa-sha2-512/3072"},
}

// debianRevision is the patch level in a Debian OpenSSH version comment:
// masscanned's is the profile's ssh banner (a fixed default), the lab's
// sshd is whatever Debian 12 update is installed.
var debianRevision = regexp.MustCompile(`^(Debian-2\+deb12u)[0-9]+$`)

// TestSSHDiff compares, in the same run, what ssh -vvv and ssh-audit see
// of Debian's sshd (OpenSSH 9.2p1, default configuration, host keys of
// the types and sizes masscanned generates: RSA 3072, ECDSA P-256,
// Ed25519) and of masscanned.
func TestSSHDiff(t *testing.T) {
	Require(t, "ssh", "sshd", "ssh-keygen", "ssh-audit")
	var kernel, ours map[string][]string
	var wg sync.WaitGroup
	wg.Add(2)
	merge := func(a, b map[string][]string) map[string][]string {
		for k, v := range b {
			a[k] = v
		}
		return a
	}
	go func() {
		defer wg.Done()
		k := NewLab(t, LabOptions{Kernel: true, NoClientIPv6: true})
		dir := k.Dir
		for _, kt := range [][]string{{"rsa", "3072"}, {"ecdsa", "256"}, {"ed25519", "256"}} {
			k.must("ssh-keygen", "-q", "-t", kt[0], "-b", kt[1], "-N", "", "-f", filepath.Join(dir, "ssh_host_"+kt[0]+"_key"))
		}
		k.must("mkdir", "-p", "/run/sshd")
		// Debian 12's sshd with its default configuration and host keys
		if !k.RunInResp("22", "/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config",
			"-o", "HostKey="+filepath.Join(dir, "ssh_host_rsa_key"), "-o", "HostKey="+filepath.Join(dir, "ssh_host_ecdsa_key"),
			"-o", "HostKey="+filepath.Join(dir, "ssh_host_ed25519_key"), "-o", "PidFile=none") {
			return
		}
		kernel = merge(sshProposal(t, k), sshAudit(t, k))
	}()
	go func() {
		defer wg.Done()
		m := NewLab(t, LabOptions{NoClientIPv6: true})
		m.Start()
		warmSSH(t, m)
		ours = merge(sshProposal(t, m), sshAudit(t, m))
	}()
	wg.Wait()
	if kernel == nil || ours == nil {
		t.FailNow()
	}
	for _, k := range []string{"banner", "KEX algorithms", "ciphers ctos", "MACs ctos", "compression ctos", "host key algorithms",
		"audit banner", "audit kex", "audit key", "audit enc", "audit mac", "audit compression", "audit fingerprints"} {
		var want []string
		for _, a := range kernel[k] {
			if !sshLibraryLacks[strings.Split(a, "/")[0]] {
				want = append(want, a)
			}
		}
		var got []string
		for _, a := range ours[k] {
			if !sshLibraryLacks[strings.Split(a, "/")[0]] {
				got = append(got, a)
			}
		}
		t.Logf("%-20s sshd:       %s", k, strings.Join(kernel[k], ","))
		t.Logf("%-20s masscanned: %s", k, strings.Join(ours[k], ","))
		w := strings.Join(want, ",")
		if d, ok := sshInherent[k]; ok {
			if !strings.Contains(w, d[0]) {
				t.Errorf("%s: the known difference %q is gone from sshd's list: update sshInherent and the README", k, d[0])
			}
			w = strings.Replace(w, d[0], d[1], 1)
		}
		if strings.Join(got, ",") != w {
			t.Errorf("%s: masscanned %v, sshd %v (less what the library lacks and the known differences)", k, got, want)
		}
	}
}
