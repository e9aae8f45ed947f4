package hostkeys

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// CertParams describe the certificate made for a host that has none yet.
type CertParams struct {
	// CommonName is the host's name, as `hostname -f` would print it
	// (e.g. the host's hostname banner). "" means "localhost".
	CommonName string
	// DNSNames are the subject alternative names. Nil means CommonName
	// alone, as make-ssl-cert writes.
	DNSNames []string
}

// certEntry is the cached certificate of one id.
type certEntry = *tls.Certificate

// Certificate file names in a host's directory.
const (
	certFile = "tls.crt"
	keyFile  = "tls.key"
)

// certValidity is make-ssl-cert's default expiration (-days 3650).
const certValidity = 3650 * 24 * time.Hour

// maxCommonName is the upper bound of a commonName (RFC 5280 ub-common-name).
const maxCommonName = 64

// Certificate returns the TLS certificate and key of the host id. The
// first call for a host generates them and writes them to its directory
// (tls.key, tls.crt); later calls, and later processes, load them. p only
// describes a certificate to generate: an existing one is returned as it
// is, as a real machine keeps the snakeoil certificate of its installation
// when its name changes. If tls.key exists without tls.crt, a certificate
// is made for that key; tls.crt without tls.key is an error.
//
// The certificate is made like the "snakeoil" certificate of a Debian
// install, which the ssl-cert package (1.1.2 in Debian 12) makes with
// `make-ssl-cert generate-default-snakeoil`: that runs
//
//	openssl req -config ssleay.cnf -new -x509 -days 3650 -nodes -sha256
//
// with the template /usr/share/ssl-cert/ssleay.cnf, whose commonName is
// the FQDN (the short host name if the FQDN is longer than 64 bytes),
// whose subjectAltName is DNS:<FQDN>, and whose x509_extensions section
// has just basicConstraints = CA:FALSE and subjectAltName. OpenSSL 3.0's
// req -x509 adds a subjectKeyIdentifier (SHA-1 of the public key) and, the
// certificate being self-signed, no authorityKeyIdentifier. So:
//
//   - an RSA 2048 key (the template's default_bits), stored as PKCS #8
//     ("BEGIN PRIVATE KEY", as openssl 3 writes);
//   - version 3, a random positive serial of 159 bits (openssl's
//     rand_serial), sha256WithRSAEncryption;
//   - subject = issuer = CN=<name>, a UTF8String (openssl's default string
//     mask);
//   - validity from now to 3650 days later;
//   - extensions, all non-critical and in this order: basic constraints
//     CA:FALSE, subject alternative name DNS:<name>, subject key
//     identifier; no key usage nor extended key usage (openssl adds none
//     unless asked).
//
// The returned certificate, with Leaf set, is shared: do not modify it.
func (s *Store) Certificate(id string, p CertParams) (*tls.Certificate, error) {
	return once(s, s.cert, id, func() (certEntry, error) { return s.loadCert(id, p) })
}

func (s *Store) loadCert(id string, p CertParams) (*tls.Certificate, error) {
	dir, err := s.hostDir(id)
	if err != nil {
		return nil, err
	}
	crtPath, keyPath := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	crtPEM, err := readFile(crtPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile(keyPath)
	if err != nil {
		return nil, err
	}

	var key crypto.Signer
	switch {
	case keyPEM == nil && crtPEM != nil:
		return nil, fmt.Errorf("hostkeys: %s exists but its key %s does not", crtPath, keyPath)
	case keyPEM == nil:
		k, err := rsa.GenerateKey(rand.Reader, s.tlsRSABits)
		if err != nil {
			return nil, fmt.Errorf("hostkeys: generating %s: %w", keyPath, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("hostkeys: encoding %s: %w", keyPath, err)
		}
		s.noteGenerated(keyPath)
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
			return nil, err
		}
		key = k
	default:
		if key, err = parseKeyPEM(keyPEM); err != nil {
			return nil, fmt.Errorf("hostkeys: %s: %w", keyPath, err)
		}
	}

	if crtPEM == nil {
		der, err := snakeoil(key, p, time.Now())
		if err != nil {
			return nil, fmt.Errorf("hostkeys: making %s: %w", crtPath, err)
		}
		crtPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if err := writeFile(crtPath, crtPEM, 0o644); err != nil {
			return nil, err
		}
	} else if err := checkCertPEM(crtPEM); err != nil {
		return nil, fmt.Errorf("hostkeys: %s: %w", crtPath, err)
	}

	cert, err := tls.X509KeyPair(crtPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("hostkeys: %s and %s: %w", crtPath, keyPath, err)
	}
	return &cert, nil
}

// parseKeyPEM parses the first PEM block of data as a private key in PKCS
// #8, PKCS #1 or SEC 1 form.
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	var block *pem.Block
	for {
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key")
		}
		if block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY") {
			break
		}
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return signer, nil
}

// checkCertPEM checks that the first CERTIFICATE block of data parses.
func checkCertPEM(data []byte) error {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return errors.New("no PEM certificate")
		}
		if block.Type == "CERTIFICATE" {
			_, err := x509.ParseCertificate(block.Bytes)
			return err
		}
	}
}

// Object identifiers of the extensions snakeoil writes.
var (
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidSubjectKeyID     = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
)

// snakeoil returns the DER of a self-signed certificate for key made as
// make-ssl-cert makes the snakeoil certificate (see Certificate), valid
// from now.
func snakeoil(key crypto.Signer, p CertParams, now time.Time) ([]byte, error) {
	name := p.CommonName
	if name == "" {
		name = "localhost"
	}
	sans := p.DNSNames
	if sans == nil {
		sans = []string{name}
	}
	cn := commonName(name)
	if cn == "" || !utf8.ValidString(cn) {
		return nil, fmt.Errorf("invalid common name %q", name)
	}

	subject, err := asn1.Marshal(pkix.RDNSequence{{{
		Type:  oidCommonName,
		Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(cn)},
	}}})
	if err != nil {
		return nil, err
	}
	san, err := generalNames(sans)
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, err
	}
	if serial.Sign() == 0 {
		serial.SetInt64(1)
	}

	now = now.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		RawSubject:   subject,
		NotBefore:    now,
		NotAfter:     now.Add(certValidity),
		// All three as raw extensions, to have them non-critical (Go marks
		// a basic constraints extension critical), in openssl's order and
		// with openssl's SHA-1 key identifier.
		ExtraExtensions: []pkix.Extension{
			{Id: oidBasicConstraints, Value: []byte{0x30, 0x00}}, // SEQUENCE {}: CA:FALSE
			{Id: oidSubjectAltName, Value: san},
			{Id: oidSubjectKeyID, Value: skid},
		},
	}
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		tmpl.SignatureAlgorithm = x509.SHA256WithRSA
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
}

// commonName is what make-ssl-cert puts in the commonName for the host
// name: the name itself, or if it is longer than 64 bytes its first label
// (`hostname` instead of `hostname -f`), cut to 64 bytes.
func commonName(name string) string {
	if len(name) <= maxCommonName {
		return name
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	if len(name) > maxCommonName {
		name = name[:maxCommonName]
		for !utf8.ValidString(name) {
			name = name[:len(name)-1]
		}
	}
	return name
}

// generalNames encodes names as the DER of a GeneralNames of dNSNames.
func generalNames(names []string) ([]byte, error) {
	if len(names) == 0 {
		return nil, errors.New("no subject alternative name")
	}
	rv := make([]asn1.RawValue, len(names))
	for i, n := range names {
		if n == "" {
			return nil, errors.New("empty DNS name")
		}
		for j := 0; j < len(n); j++ {
			if n[j] < 0x20 || n[j] > 0x7e {
				return nil, fmt.Errorf("DNS name %q is not printable ASCII", n)
			}
		}
		rv[i] = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(n)}
	}
	return asn1.Marshal(rv)
}

// subjectKeyID is the DER of a subject key identifier extension's value
// for pub as openssl's "hash" computes it (RFC 5280 4.2.1.2 method 1): the
// SHA-1 of the subjectPublicKey bit string.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, err
	}
	sum := sha1.Sum(info.PublicKey.Bytes)
	return asn1.Marshal(sum[:])
}
