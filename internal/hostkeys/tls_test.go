package hostkeys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkSnakeoil checks the fields of a certificate made as make-ssl-cert
// makes the snakeoil certificate, for host name cn with SANs sans.
func checkSnakeoil(t *testing.T, c *x509.Certificate, cn string, sans []string) {
	t.Helper()
	if c.Subject.CommonName != cn || c.Issuer.CommonName != cn {
		t.Errorf("subject %q issuer %q, want CN=%s", c.Subject, c.Issuer, cn)
	}
	if !bytes.Equal(c.RawSubject, c.RawIssuer) {
		t.Error("issuer != subject")
	}
	if len(c.Subject.Names) != 1 {
		t.Errorf("subject has %d attributes, want only CN", len(c.Subject.Names))
	}
	// The CN is a UTF8String, as openssl writes it.
	var rdn []asn1.RawValue
	var set []struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	if _, err := asn1.Unmarshal(c.RawSubject, &rdn); err != nil || len(rdn) != 1 {
		t.Fatalf("subject: %v", err)
	}
	if _, err := asn1.UnmarshalWithParams(rdn[0].FullBytes, &set, "set"); err != nil || len(set) != 1 {
		t.Fatalf("subject RDN: %v", err)
	}
	if set[0].Value.Tag != asn1.TagUTF8String {
		t.Errorf("CN tag %d, want UTF8String", set[0].Value.Tag)
	}
	if !slices.Equal(c.DNSNames, sans) {
		t.Errorf("SAN %q, want %q", c.DNSNames, sans)
	}
	if len(c.IPAddresses)+len(c.EmailAddresses)+len(c.URIs) != 0 {
		t.Error("SANs other than DNS names")
	}
	if d := c.NotAfter.Sub(c.NotBefore); d != 3650*24*time.Hour {
		t.Errorf("validity %v, want 3650 days", d)
	}
	if time.Since(c.NotBefore) < 0 || time.Since(c.NotBefore) > time.Hour {
		t.Errorf("not before %v, want about now", c.NotBefore)
	}
	// (CheckSignatureFrom refuses a parent that is not a CA.)
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if c.Version != 3 || c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 159 {
		t.Errorf("version %d serial %v", c.Version, c.SerialNumber)
	}
	if !c.BasicConstraintsValid || c.IsCA {
		t.Error("basic constraints not CA:FALSE")
	}
	if c.KeyUsage != 0 || len(c.ExtKeyUsage) != 0 || len(c.AuthorityKeyId) != 0 {
		t.Errorf("key usage %v, ext key usage %v, AKID %x: want none", c.KeyUsage, c.ExtKeyUsage, c.AuthorityKeyId)
	}
	var exts []string
	for _, e := range c.Extensions {
		exts = append(exts, e.Id.String())
		if e.Critical {
			t.Errorf("extension %v is critical", e.Id)
		}
	}
	if got := strings.Join(exts, " "); got != "2.5.29.19 2.5.29.17 2.5.29.14" {
		t.Errorf("extensions %s, want basic constraints, SAN, SKID", got)
	}
	spki := struct {
		Algo asn1.RawValue
		Key  asn1.BitString
	}{}
	asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki)
	if sum := sha1.Sum(spki.Key.Bytes); !bytes.Equal(c.SubjectKeyId, sum[:]) {
		t.Error("subject key identifier is not the SHA-1 of the key")
	}
}

func TestCertificateGenerateAndReload(t *testing.T) {
	dir := t.TempDir()
	s, gen := testStore(t, dir)
	c, err := s.Certificate("web1", CertParams{CommonName: "web1.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf == nil {
		t.Fatal("no Leaf")
	}
	checkSnakeoil(t, c.Leaf, "web1.example.com", []string{"web1.example.com"})
	if c.Leaf.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("signature %v", c.Leaf.SignatureAlgorithm)
	}
	if gen.total() != 1 {
		t.Errorf("%d keys generated, want 1", gen.total())
	}

	hd := s.HostDir("web1")
	keyData, _ := os.ReadFile(filepath.Join(hd, "tls.key"))
	if b, _ := pem.Decode(keyData); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("tls.key is not a PKCS #8 PEM key")
	}
	for name, perm := range map[string]os.FileMode{"tls.key": 0o600, "tls.crt": 0o644} {
		fi, err := os.Stat(filepath.Join(hd, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), perm)
		}
	}

	// Cached; then loaded by a later Store, whatever the params.
	c2, err := s.Certificate("web1", CertParams{CommonName: "other"})
	if err != nil || c2 != c {
		t.Errorf("second call: %v, same certificate %v", err, c2 == c)
	}
	s2, gen2 := testStore(t, dir)
	c3, err := s2.Certificate("web1", CertParams{CommonName: "renamed"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c3.Certificate[0], c.Certificate[0]) {
		t.Error("reloaded certificate differs")
	}
	if !c3.PrivateKey.(*rsa.PrivateKey).Equal(c.PrivateKey) {
		t.Error("reloaded key differs")
	}
	if gen2.total() != 0 {
		t.Errorf("reload generated %d keys", gen2.total())
	}

	// It serves TLS.
	cfg := &tls.Config{Certificates: []tls.Certificate{*c3}}
	if err := tlsHandshake(cfg, &tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Errorf("handshake: %v", err)
	}
}

// tlsHandshake runs a TLS handshake between a server and a client
// configuration over a loopback TCP connection.
func tlsHandshake(server, client *tls.Config) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c2, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		srv := tls.Server(c2, server)
		errc <- srv.Handshake()
		srv.Close()
	}()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	cl := tls.Client(c1, client)
	err = cl.Handshake()
	cl.Close()
	if serr := <-errc; err == nil {
		err = serr
	}
	return err
}

func TestCertificateDefaultsAndNames(t *testing.T) {
	s, _ := testStore(t, t.TempDir())
	c, err := s.Certificate("198.51.100.2", CertParams{})
	if err != nil {
		t.Fatal(err)
	}
	checkSnakeoil(t, c.Leaf, "localhost", []string{"localhost"})

	c, err = s.Certificate("multi", CertParams{CommonName: "www", DNSNames: []string{"www.example.org", "example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	checkSnakeoil(t, c.Leaf, "www", []string{"www.example.org", "example.org"})

	// Longer than 64 bytes: CN is the short name, SAN the full one.
	long := strings.Repeat("a", 20) + "." + strings.Repeat("b", 60) + ".example"
	c, err = s.Certificate("long", CertParams{CommonName: long})
	if err != nil {
		t.Fatal(err)
	}
	checkSnakeoil(t, c.Leaf, strings.Repeat("a", 20), []string{long})

	for _, p := range []CertParams{
		{CommonName: "bad\xff"},
		{CommonName: "x", DNSNames: []string{"é.example"}},
		{CommonName: "x", DNSNames: []string{""}},
		{CommonName: "x", DNSNames: []string{}},
	} {
		if _, err := s.Certificate("bad", p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestCertificateDifferentIDs(t *testing.T) {
	s, _ := testStore(t, t.TempDir())
	a, err := s.Certificate("198.51.100.2", CertParams{CommonName: "host"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Certificate("198.51.100.3", CertParams{CommonName: "host"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Certificate[0], b.Certificate[0]) || a.PrivateKey.(*rsa.PrivateKey).Equal(b.PrivateKey) {
		t.Error("two hosts share a key or certificate")
	}
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) == 0 {
		t.Error("two hosts share a serial")
	}
}

func TestCertificateConcurrent(t *testing.T) {
	s, gen := testStore(t, t.TempDir())
	const n = 32
	res := make([]*tls.Certificate, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { res[i], errs[i] = s.Certificate("web1", CertParams{CommonName: "web1"}) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if res[i] != res[0] {
			t.Fatalf("caller %d got another certificate", i)
		}
	}
	if gen.total() != 1 {
		t.Errorf("%d generations, want 1", gen.total())
	}
}

func TestCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := testStore(t, dir)
	c, err := s.Certificate("web1", CertParams{CommonName: "web1"})
	if err != nil {
		t.Fatal(err)
	}
	hd := s.HostDir("web1")
	crt, key := filepath.Join(hd, "tls.crt"), filepath.Join(hd, "tls.key")
	goodCrt, _ := os.ReadFile(crt)
	goodKey, _ := os.ReadFile(key)

	check := func(what, file string) {
		t.Helper()
		s2, gen := testStore(t, dir)
		_, err := s2.Certificate("web1", CertParams{})
		if err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: error %v, want one naming %s", what, err, file)
		}
		if gen.total() != 0 {
			t.Errorf("%s: generated a key", what)
		}
	}
	os.WriteFile(crt, []byte("garbage"), 0o644)
	check("corrupt certificate", crt)
	if b, _ := os.ReadFile(crt); string(b) != "garbage" {
		t.Error("corrupt certificate overwritten")
	}
	os.WriteFile(crt, goodCrt, 0o644)
	os.WriteFile(key, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	check("corrupt key", key)
	os.Remove(key)
	check("certificate without key", key)

	// Another key than the certificate's: both named.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(other)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
	check("mismatched key", crt)
	check("mismatched key", key)

	// A key without certificate gets a certificate, the key kept.
	os.WriteFile(key, goodKey, 0o600)
	os.Remove(crt)
	s3, gen := testStore(t, dir)
	c3, err := s3.Certificate("web1", CertParams{CommonName: "new"})
	if err != nil {
		t.Fatal(err)
	}
	if gen.total() != 0 || !c3.PrivateKey.(*rsa.PrivateKey).Equal(c.PrivateKey) {
		t.Error("the existing key was not used")
	}
	checkSnakeoil(t, c3.Leaf, "new", []string{"new"})

	// An operator's ECDSA pair (SEC 1 key) is loaded as it is.
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
	os.Remove(crt)
	s4, _ := testStore(t, dir)
	c4, err := s4.Certificate("web1", CertParams{CommonName: "ec"})
	if err != nil {
		t.Fatal(err)
	}
	if c4.Leaf.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("ECDSA certificate signed with %v", c4.Leaf.SignatureAlgorithm)
	}
}

// TestCertificateRealSize makes a certificate with the real key size once.
func TestCertificateRealSize(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Certificate("web1", CertParams{CommonName: "web1"})
	if err != nil {
		t.Fatal(err)
	}
	if bits := c.Leaf.PublicKey.(*rsa.PublicKey).N.BitLen(); bits != 2048 {
		t.Errorf("RSA key of %d bits, want 2048", bits)
	}
	checkSnakeoil(t, c.Leaf, "web1", []string{"web1"})
}
