package hostkeys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// pubKeys are the marshalled public keys of signers.
func pubKeys(signers []ssh.Signer) [][]byte {
	var out [][]byte
	for _, s := range signers {
		out = append(out, s.PublicKey().Marshal())
	}
	return out
}

func samePubKeys(a, b []ssh.Signer) bool {
	pa, pb := pubKeys(a), pubKeys(b)
	if len(pa) != len(pb) {
		return false
	}
	for i := range pa {
		if !bytes.Equal(pa[i], pb[i]) {
			return false
		}
	}
	return true
}

func TestSSHSignersGenerateAndReload(t *testing.T) {
	dir := t.TempDir()
	s, gen := testStore(t, dir)
	a, err := s.SSHSigners("web1")
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{ssh.KeyAlgoRSA, ssh.KeyAlgoECDSA256, ssh.KeyAlgoED25519}
	if len(a) != len(wantTypes) {
		t.Fatalf("%d signers, want %d", len(a), len(wantTypes))
	}
	for i, sg := range a {
		if got := sg.PublicKey().Type(); got != wantTypes[i] {
			t.Errorf("signer %d is %s, want %s", i, got, wantTypes[i])
		}
	}
	if gen.total() != 3 {
		t.Errorf("%d keys generated, want 3", gen.total())
	}

	// The RSA key signs with rsa-sha2-512 and rsa-sha2-256 only.
	mas, ok := a[0].(ssh.MultiAlgorithmSigner)
	if !ok {
		t.Fatalf("RSA signer is a %T, not a MultiAlgorithmSigner", a[0])
	}
	if got := strings.Join(mas.Algorithms(), ","); got != "rsa-sha2-512,rsa-sha2-256" {
		t.Errorf("RSA algorithms %s", got)
	}

	// Files: private keys 0600 in OpenSSH format, .pub 0644 matching.
	hd := s.HostDir("web1")
	if fi, err := os.Stat(hd); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("host dir %s: %v %v, want mode 0700", hd, fi.Mode().Perm(), err)
	}
	for i, name := range []string{"ssh_host_rsa_key", "ssh_host_ecdsa_key", "ssh_host_ed25519_key"} {
		p := filepath.Join(hd, name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
		data, _ := os.ReadFile(p)
		if !bytes.HasPrefix(data, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
			t.Errorf("%s is not an OpenSSH private key: %.40q", name, data)
		}
		pub, _ := os.ReadFile(p + ".pub")
		pk, comment, _, rest, err := ssh.ParseAuthorizedKey(pub)
		if err != nil || len(rest) != 0 {
			t.Fatalf("%s.pub: %v (rest %q)", name, err, rest)
		}
		if !bytes.Equal(pk.Marshal(), a[i].PublicKey().Marshal()) {
			t.Errorf("%s.pub does not match the signer", name)
		}
		if comment != "root@web1" {
			t.Errorf("%s.pub comment %q, want root@web1", name, comment)
		}
	}

	// Same Store: cached. New Store (a later process): loaded, not regenerated.
	b, err := s.SSHSigners("web1")
	if err != nil || !samePubKeys(a, b) {
		t.Fatalf("second call: %v, same keys %v", err, samePubKeys(a, b))
	}
	s2, gen2 := testStore(t, dir)
	c, err := s2.SSHSigners("web1")
	if err != nil {
		t.Fatal(err)
	}
	if !samePubKeys(a, c) {
		t.Error("reloaded keys differ")
	}
	if gen2.total() != 0 {
		t.Errorf("reload generated %d keys", gen2.total())
	}
	if _, ok := c[0].(ssh.MultiAlgorithmSigner); !ok {
		t.Errorf("reloaded RSA signer is a %T", c[0])
	}

	// A signer signs, and its signature verifies.
	for _, sg := range c {
		sig, err := sg.Sign(rand.Reader, []byte("data"))
		if err != nil {
			t.Fatalf("%s: %v", sg.PublicKey().Type(), err)
		}
		if err := sg.PublicKey().Verify([]byte("data"), sig); err != nil {
			t.Errorf("%s: %v", sg.PublicKey().Type(), err)
		}
	}
}

func TestSSHSignersDifferentIDs(t *testing.T) {
	s, _ := testStore(t, t.TempDir())
	a, err := s.SSHSigners("198.51.100.2")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.SSHSigners("198.51.100.3")
	if err != nil {
		t.Fatal(err)
	}
	for i, pa := range pubKeys(a) {
		if bytes.Equal(pa, pubKeys(b)[i]) {
			t.Errorf("key %d shared by two hosts", i)
		}
	}
}

// TestSSHSignersConcurrent asks for the keys of one id from many
// goroutines at once: each key is generated once and all get the same.
func TestSSHSignersConcurrent(t *testing.T) {
	s, gen := testStore(t, t.TempDir())
	const n = 32
	res := make([][]ssh.Signer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { res[i], errs[i] = s.SSHSigners("web1") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !samePubKeys(res[0], res[i]) {
			t.Fatalf("caller %d got other keys", i)
		}
	}
	for p, c := range gen.n {
		if c != 1 {
			t.Errorf("%s generated %d times", p, c)
		}
	}
	if gen.total() != 3 {
		t.Errorf("%d generations, want 3", gen.total())
	}
	// The returned slices are the callers': changing one changes no other.
	res[0][0] = nil
	again, _ := s.SSHSigners("web1")
	if again[0] == nil {
		t.Error("a caller's slice aliases the cache")
	}
}

func TestSSHCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := testStore(t, dir)
	if _, err := s.SSHSigners("web1"); err != nil {
		t.Fatal(err)
	}
	hd := s.HostDir("web1")
	key := filepath.Join(hd, "ssh_host_ecdsa_key")
	good, _ := os.ReadFile(key)

	check := func(what, file string) {
		t.Helper()
		s2, gen := testStore(t, dir)
		_, err := s2.SSHSigners("web1")
		if err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: error %v, want one naming %s", what, err, file)
		}
		if gen.total() != 0 {
			t.Errorf("%s: generated %d keys", what, gen.total())
		}
	}

	os.WriteFile(key, []byte("garbage\n"), 0o600)
	check("corrupt private key", key)
	if b, _ := os.ReadFile(key); string(b) != "garbage\n" {
		t.Error("corrupt key file was overwritten")
	}

	// A key of the wrong type in the file.
	ed, _ := os.ReadFile(filepath.Join(hd, "ssh_host_ed25519_key"))
	os.WriteFile(key, ed, 0o600)
	check("ed25519 key in the ecdsa file", key)

	// .pub that does not parse, or does not match.
	os.WriteFile(key, good, 0o600)
	os.WriteFile(key+".pub", []byte("nonsense\n"), 0o644)
	check("corrupt .pub", key+".pub")
	edPub, _ := os.ReadFile(filepath.Join(hd, "ssh_host_ed25519_key.pub"))
	os.WriteFile(key+".pub", edPub, 0o644)
	check("mismatched .pub", key+".pub")

	// .pub without its private key: not overwritten.
	os.Remove(key)
	check(".pub without private key", key)

	// Unreadable private key (as root every file is readable: make it a
	// directory instead).
	os.Remove(key + ".pub")
	os.Mkdir(key, 0o700)
	check("unreadable private key", key)
	os.Remove(key)

	// A missing .pub is written again from the private key.
	os.WriteFile(key, good, 0o600)
	s3, gen := testStore(t, dir)
	if _, err := s3.SSHSigners("web1"); err != nil {
		t.Fatal(err)
	}
	if gen.total() != 0 {
		t.Errorf("generated %d keys", gen.total())
	}
	if _, err := os.Stat(key + ".pub"); err != nil {
		t.Error(err)
	}

	// After a failure the next call tries again (nothing cached).
	os.WriteFile(key, []byte("garbage\n"), 0o600)
	s4, _ := testStore(t, dir)
	if _, err := s4.SSHSigners("web1"); err == nil {
		t.Fatal("corrupt key accepted")
	}
	os.WriteFile(key, good, 0o600)
	if _, err := s4.SSHSigners("web1"); err != nil {
		t.Errorf("after the fix: %v", err)
	}
}

// TestSSHOperatorKeys loads key files an operator put in place, of other
// sizes and curves than those generated.
func TestSSHOperatorKeys(t *testing.T) {
	dir := t.TempDir()
	s, gen := testStore(t, dir)
	hd := s.HostDir("web1")
	if err := os.MkdirAll(hd, 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := rsa.GenerateKey(rand.Reader, 1536)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(k, "root@elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(hd, "ssh_host_rsa_key"), pem.EncodeToMemory(block), 0o600)
	got, err := s.SSHSigners("web1")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ssh.NewPublicKey(&k.PublicKey)
	if !bytes.Equal(got[0].PublicKey().Marshal(), want.Marshal()) {
		t.Error("operator's RSA key not used")
	}
	if gen.total() != 2 {
		t.Errorf("%d keys generated, want 2 (ecdsa, ed25519)", gen.total())
	}
}

// TestSSHRealSizes generates keys of the real sizes once.
func TestSSHRealSizes(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA 3072 generation in -short mode")
	}
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	signers, err := s.SSHSigners("web1")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(s.HostDir("web1"), "ssh_host_rsa_key"))
	k, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if bits := k.(*rsa.PrivateKey).N.BitLen(); bits != 3072 {
		t.Errorf("RSA host key of %d bits, want 3072", bits)
	}
	if got := signers[1].PublicKey().Type(); got != ssh.KeyAlgoECDSA256 {
		t.Errorf("ECDSA key %s", got)
	}
}

// TestSSHInterop serves the signers with x/crypto/ssh's server and checks
// a client asking for each host key algorithm gets the right key.
func TestSSHInterop(t *testing.T) {
	s, _ := testStore(t, t.TempDir())
	signers, err := s.SSHSigners("web1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	for _, sg := range signers {
		cfg.AddHostKey(sg)
	}
	for _, tc := range []struct {
		algo string
		key  int
	}{
		{ssh.KeyAlgoRSASHA512, 0},
		{ssh.KeyAlgoRSASHA256, 0},
		{ssh.KeyAlgoECDSA256, 1},
		{ssh.KeyAlgoED25519, 2},
		{ssh.KeyAlgoRSA, -1}, // ssh-rsa (SHA-1) is not offered
	} {
		// A TCP pair: on a net.Pipe both sides' version lines block.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c2, err := ln.Accept()
			ln.Close()
			if err != nil {
				return
			}
			conn, _, _, err := ssh.NewServerConn(c2, cfg)
			if err == nil {
				conn.Close()
			}
			c2.Close()
		}()
		c1, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		var got ssh.PublicKey
		ccfg := &ssh.ClientConfig{
			User:              "root",
			HostKeyAlgorithms: []string{tc.algo},
			HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
				got = k
				return nil
			},
		}
		conn, _, _, err := ssh.NewClientConn(c1, "web1:22", ccfg)
		if conn != nil {
			conn.Close()
		}
		c1.Close()
		if tc.key < 0 {
			if got != nil {
				t.Errorf("%s: server offered it", tc.algo)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.algo, err)
			continue
		}
		if got == nil || !bytes.Equal(got.Marshal(), signers[tc.key].PublicKey().Marshal()) {
			t.Errorf("%s: not host key %d", tc.algo, tc.key)
		}
	}
}
