package hostkeys

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testStore opens a Store in a fresh directory with small RSA keys (fast
// to generate) and counts the key files it generates.
func testStore(t *testing.T, dir string) (*Store, *counter) {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.sshRSABits, s.tlsRSABits = 1024, 1024
	c := &counter{n: map[string]int{}}
	s.generated = c.add
	return s, c
}

// counter counts generated key files by path.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(path string) {
	c.mu.Lock()
	c.n[path]++
	c.mu.Unlock()
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, n := range c.n {
		t += n
	}
	return t
}

func TestOpenCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("state dir mode %v, want 0700", perm)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("Open left files in the state dir: %v", ents)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Error(`Open("") succeeded`)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(file)
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("Open(a file) = %v, want an error naming it", err)
	}
	if _, err := Open(filepath.Join(file, "sub")); err == nil {
		t.Error("Open(under a file) succeeded")
	}

	if os.Geteuid() == 0 {
		t.Log("running as root: not testing a read-only directory")
		return
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ro)
	if err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("Open(read-only dir) = %v, want a 'not writable' error", err)
	}
}

func TestHostDirName(t *testing.T) {
	for _, tc := range []struct{ id, prefix string }{
		{"web1", "web1-"},
		{"198.51.100.2", "198.51.100.2-"},
		{"2001:db8::1", "2001_db8__1-"},
		{"../x", "_x-"},
		{"..", ""},
		{".", ""},
		{"-rf", "rf-"},
		{"a/b\\c d", "a_b_c_d-"},
		{"é", "__-"},
		{strings.Repeat("x", 100), strings.Repeat("x", maxSlug) + "-"},
	} {
		got := hostDirName(tc.id)
		if !strings.HasPrefix(got, tc.prefix) || len(got) != len(tc.prefix)+12 {
			t.Errorf("hostDirName(%q) = %q, want %q + 12 hex digits", tc.id, got, tc.prefix)
		}
		if got == "." || got == ".." || strings.ContainsAny(got, "/\\\x00") {
			t.Errorf("hostDirName(%q) = %q is not a safe file name", tc.id, got)
		}
	}
	if hostDirName("Web1") == hostDirName("web1") || hostDirName("a/b") == hostDirName("a_b") {
		t.Error("ids differing in case or in replaced bytes share a directory")
	}
	if sum := sha256.Sum256([]byte("web1")); hostDirName("web1") != "web1-"+hex.EncodeToString(sum[:6]) {
		t.Errorf("hostDirName(web1) = %q, want web1- and its hash", hostDirName("web1"))
	}
}

// TestPathTraversal generates keys for hostile ids and checks every file
// stays inside the state directory.
func TestPathTraversal(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "state")
	s, _ := testStore(t, state)
	ids := []string{"../x", "../../etc/passwd", "/abs/path", "..", ".", "a/../../b", "\x00nul", `..\win`}
	for _, id := range ids {
		if _, err := s.SSHSigners(id); err != nil {
			t.Fatalf("SSHSigners(%q): %v", id, err)
		}
		if _, err := s.Certificate(id, CertParams{}); err != nil {
			t.Fatalf("Certificate(%q): %v", id, err)
		}
		d := s.HostDir(id)
		if filepath.Dir(d) != state {
			t.Errorf("HostDir(%q) = %q, not directly in %q", id, d, state)
		}
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "state" {
		t.Errorf("files outside the state dir: %v", ents)
	}
	ents, _ = os.ReadDir(state)
	if len(ents) != len(ids) {
		t.Errorf("%d host directories for %d ids", len(ents), len(ids))
	}
	if _, err := s.SSHSigners(""); err == nil {
		t.Error(`SSHSigners("") succeeded`)
	}
	if _, err := s.Certificate("", CertParams{}); err == nil {
		t.Error(`Certificate("") succeeded`)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := writeFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "two" || fi.Mode().Perm() != 0o640 {
		t.Errorf("got %q mode %v, want \"two\" 0640", b, fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if err := writeFile(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
