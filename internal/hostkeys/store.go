// Package hostkeys keeps the SSH host keys and TLS certificates of the
// hosts masscanned impersonates, one set per host, under a state directory
// (--state-dir).
//
// A real fleet never shares one SSH host key or TLS certificate across
// machines (a certificate shared by many addresses is a well-known honeypot
// tell), and a machine keeps its keys across reboots. So each host, named
// by an id the caller derives (a profile host's name, or for an address
// without a profile the address itself), gets its own keys, generated on
// first use and written to disk, and later calls and later processes load
// them:
//
//	<dir>/<host>/ssh_host_rsa_key       OpenSSH private key, 0600 (+ .pub, 0644)
//	<dir>/<host>/ssh_host_ecdsa_key     likewise
//	<dir>/<host>/ssh_host_ed25519_key   likewise
//	<dir>/<host>/tls.key                PEM (PKCS #8) private key, 0600
//	<dir>/<host>/tls.crt                PEM self-signed certificate, 0644
//
// <host> is a file-name-safe form of the id (see HostDir). Files are
// written atomically (temporary file, then rename) and a file that exists
// is never overwritten: a corrupt or unreadable one is an error naming it,
// so keys an operator put there are kept. One state directory is meant for
// one process at a time, as /etc/ssh is for one sshd.
package hostkeys

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Store keeps the keys and certificates of hosts under a state directory
// and caches them in memory. Its methods are safe for concurrent use; each
// key is generated at most once per Store, however many callers ask for it
// at the same time.
type Store struct {
	dir string

	mu   sync.Mutex
	ssh  map[string]*call[sshSet]
	cert map[string]*call[certEntry]

	// Key sizes, set by Open; tests lower them to keep generation fast.
	sshRSABits int
	tlsRSABits int
	// generated, when not nil, is called with the path of each key file
	// about to be written with a freshly generated key (a test hook).
	generated func(path string)
}

// call is one load-or-generate of an id's keys, shared by every caller
// asking for that id while it runs and cached afterwards if it succeeded.
type call[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// Default key sizes: ssh-keygen's default RSA size since OpenSSH 8.0 (the
// size of the host key a Debian 12 install generates), and the
// default_bits of the ssl-cert package's template for its snakeoil
// certificate (/usr/share/ssl-cert/ssleay.cnf).
const (
	SSHRSABits = 3072
	TLSRSABits = 2048
)

// Open returns a Store keeping its files under dir, which is created with
// mode 0700 if missing. It fails if dir cannot be created, is not a
// directory, or a file cannot be created in it.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("hostkeys: no state directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hostkeys: state directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("hostkeys: state directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("hostkeys: state directory %s is not a directory", dir)
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("hostkeys: state directory %s is not writable: %w", dir, err)
	}
	name := probe.Name()
	probe.Close()
	if err := os.Remove(name); err != nil {
		return nil, fmt.Errorf("hostkeys: state directory %s: %w", dir, err)
	}
	return &Store{
		dir:        dir,
		ssh:        make(map[string]*call[sshSet]),
		cert:       make(map[string]*call[certEntry]),
		sshRSABits: SSHRSABits,
		tlsRSABits: TLSRSABits,
	}, nil
}

// Dir is the state directory the Store was opened on.
func (s *Store) Dir() string { return s.dir }

// HostDir is the directory, inside the state directory, that holds the
// files of the host id, whether or not it exists yet.
func (s *Store) HostDir(id string) string { return filepath.Join(s.dir, hostDirName(id)) }

// maxSlug bounds the readable part of a host directory's name.
const maxSlug = 48

// hostDirName turns an id into a single path element that is safe on any
// file system: the id's letters, digits, '.', '-' and '_' (any other byte
// becomes '_', leading dots and dashes are dropped, at most maxSlug bytes
// are kept), then '-' and 12 hex digits of the id's SHA-256. The hash
// keeps ids that differ only in the bytes replaced, or in case on a
// case-insensitive file system, apart, and the suffix makes "." and ".."
// impossible: "../x" becomes "_x-<hash>" inside the state directory.
func hostDirName(id string) string {
	b := make([]byte, 0, maxSlug+13)
	for i := 0; i < len(id) && len(b) < maxSlug; i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		case c == '.' || c == '-':
			if len(b) == 0 {
				continue
			}
		default:
			c = '_'
		}
		b = append(b, c)
	}
	sum := sha256.Sum256([]byte(id))
	if len(b) > 0 {
		b = append(b, '-')
	}
	return string(hex.AppendEncode(b, sum[:6]))
}

// hostDir validates id and creates the host's directory (0700).
func (s *Store) hostDir(id string) (string, error) {
	if id == "" {
		return "", errors.New("hostkeys: empty host id")
	}
	d := s.HostDir(id)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", fmt.Errorf("hostkeys: host %q: %w", id, err)
	}
	return d, nil
}

// once runs f for id unless a call for id is running or has succeeded, in
// which case it waits for that call and returns its result. A failed call
// is forgotten, so that a later one tries again (after an operator fixed
// the file the error named, say).
func once[T any](s *Store, m map[string]*call[T], id string, f func() (T, error)) (T, error) {
	s.mu.Lock()
	if c, ok := m[id]; ok {
		s.mu.Unlock()
		<-c.done
		return c.val, c.err
	}
	c := &call[T]{done: make(chan struct{})}
	m[id] = c
	s.mu.Unlock()

	c.val, c.err = f()
	if c.err != nil {
		s.mu.Lock()
		delete(m, id)
		s.mu.Unlock()
	}
	close(c.done)
	return c.val, c.err
}

// readFile reads path; a missing file is (nil, nil).
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hostkeys: %w", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// writeFile writes data to path atomically with mode perm: to a temporary
// file in the same directory, synced, then renamed over path, so that a
// crash leaves either no file or the whole file.
func writeFile(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("hostkeys: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("hostkeys: writing %s: %w", path, err)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename itself durable; a failure here is not worth failing
	// for: the file is complete either way.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// noteGenerated calls the test hook, if any.
func (s *Store) noteGenerated(path string) {
	if s.generated != nil {
		s.generated(path)
	}
}
