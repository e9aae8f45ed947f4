package hostkeys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// sshKeyFile is one of the host key files of an OpenSSH server.
type sshKeyFile struct {
	name   string // file name in the host's directory
	prefix string // ssh key type prefix the file must hold: "ssh-rsa", "ecdsa-sha2-"...
	gen    func(s *Store) (crypto.PrivateKey, error)
}

// sshKeyFiles are the host keys of a Debian 12 OpenSSH server (the three
// ssh-keygen -A makes at install), in the order sshd offers them.
//
// sshd builds the server_host_key_algorithms of its KEXINIT by walking its
// host keys in the order of its HostKey settings, which on Debian are the
// defaults rsa, ecdsa, ed25519, and an RSA key adds rsa-sha2-512 then
// rsa-sha2-256 (not ssh-rsa, disabled since OpenSSH 8.8). Debian 12's sshd
// offers "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519",
// which is what internal/app/ssh sends.
var sshKeyFiles = []sshKeyFile{
	{"ssh_host_rsa_key", ssh.KeyAlgoRSA, func(s *Store) (crypto.PrivateKey, error) {
		return rsa.GenerateKey(rand.Reader, s.sshRSABits)
	}},
	{"ssh_host_ecdsa_key", "ecdsa-sha2-", func(*Store) (crypto.PrivateKey, error) {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}},
	{"ssh_host_ed25519_key", ssh.KeyAlgoED25519, func(*Store) (crypto.PrivateKey, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}},
}

// rsaSSHAlgorithms are the signature algorithms an RSA host key is used
// with, as in OpenSSH >= 8.8.
var rsaSSHAlgorithms = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}

// sshSet is the cached host keys of one id.
type sshSet []ssh.Signer

// SSHSigners returns the SSH host keys of the host id: RSA, ECDSA (P-256)
// and Ed25519, in the order a Debian 12 sshd offers them. Keys missing
// from the host's directory are generated and written there; the others
// are loaded (any RSA size, any ECDSA curve, as sshd accepts).
//
// The RSA signer is restricted to rsa-sha2-512 and rsa-sha2-256 (an
// ssh.MultiAlgorithmSigner): an x/crypto/ssh server given these signers
// offers no ssh-rsa, like OpenSSH since 8.8. (It lists rsa-sha2-256 before
// rsa-sha2-512, unlike sshd: a responder that must match sshd's KEXINIT
// byte for byte writes its own.)
//
// The returned slice is the caller's; the signers are shared.
func (s *Store) SSHSigners(id string) ([]ssh.Signer, error) {
	set, err := once(s, s.ssh, id, func() (sshSet, error) { return s.loadSSH(id) })
	if err != nil {
		return nil, err
	}
	return append([]ssh.Signer(nil), set...), nil
}

func (s *Store) loadSSH(id string) (sshSet, error) {
	dir, err := s.hostDir(id)
	if err != nil {
		return nil, err
	}
	comment := "root@" + commentHost(id)
	set := make(sshSet, 0, len(sshKeyFiles))
	for _, kf := range sshKeyFiles {
		signer, err := s.loadSSHKey(filepath.Join(dir, kf.name), kf, comment)
		if err != nil {
			return nil, err
		}
		set = append(set, signer)
	}
	return set, nil
}

// loadSSHKey loads, or generates and writes, one host key file and its
// .pub.
func (s *Store) loadSSHKey(path string, kf sshKeyFile, comment string) (ssh.Signer, error) {
	pubPath := path + ".pub"
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	pubData, err := readFile(pubPath)
	if err != nil {
		return nil, err
	}

	var signer ssh.Signer
	if data == nil {
		if pubData != nil {
			return nil, fmt.Errorf("hostkeys: %s exists but its private key %s does not", pubPath, path)
		}
		key, err := kf.gen(s)
		if err != nil {
			return nil, fmt.Errorf("hostkeys: generating %s: %w", path, err)
		}
		block, err := ssh.MarshalPrivateKey(key, comment)
		if err != nil {
			return nil, fmt.Errorf("hostkeys: encoding %s: %w", path, err)
		}
		if signer, err = ssh.NewSignerFromKey(key); err != nil {
			return nil, fmt.Errorf("hostkeys: %s: %w", path, err)
		}
		s.noteGenerated(path)
		if err := writeFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	} else {
		if signer, err = ssh.ParsePrivateKey(data); err != nil {
			return nil, fmt.Errorf("hostkeys: %s: %w", path, err)
		}
		if t := signer.PublicKey().Type(); !strings.HasPrefix(t, kf.prefix) {
			return nil, fmt.Errorf("hostkeys: %s holds a %s key, want %s", path, t, kf.prefix)
		}
	}

	if pubData == nil {
		line := bytes.TrimSuffix(ssh.MarshalAuthorizedKey(signer.PublicKey()), []byte("\n"))
		line = append(line, ' ')
		line = append(line, comment...)
		line = append(line, '\n')
		if err := writeFile(pubPath, line, 0o644); err != nil {
			return nil, err
		}
	} else {
		pub, _, _, _, err := ssh.ParseAuthorizedKey(pubData)
		if err != nil {
			return nil, fmt.Errorf("hostkeys: %s: %w", pubPath, err)
		}
		if !bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
			return nil, fmt.Errorf("hostkeys: %s does not match its private key %s", pubPath, path)
		}
	}

	if signer.PublicKey().Type() == ssh.KeyAlgoRSA {
		as, ok := signer.(ssh.AlgorithmSigner)
		if !ok {
			return nil, fmt.Errorf("hostkeys: %s: RSA signer without algorithm choice", path)
		}
		if signer, err = ssh.NewSignerWithAlgorithms(as, rsaSSHAlgorithms); err != nil {
			return nil, fmt.Errorf("hostkeys: %s: %w", path, err)
		}
	}
	return signer, nil
}

// commentHost is the host part of the comment of generated keys
// ("root@<host>", as ssh-keygen -A writes): the id's readable part.
func commentHost(id string) string {
	b := []byte(hostDirName(id))
	if i := bytes.LastIndexByte(b, '-'); i >= 0 {
		b = b[:i]
	} else {
		b = nil
	}
	if len(b) == 0 {
		return "localhost"
	}
	return string(b)
}
