package fleet

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzSpoolRecover: whatever a segment file holds (a crash in the middle
// of a write, a damaged disk), opening the spool neither fails nor
// panics; the records it keeps can be taken, and appending goes on.
func FuzzSpoolRecover(f *testing.F) {
	dir := f.TempDir()
	s, _, err := OpenSpool(dir, 1<<20)
	if err != nil {
		f.Fatal(err)
	}
	s.Append("a.b.1", []byte(`{"ts":"x"}`+"\n"))
	s.Append("a.b.2", []byte("second"))
	s.Close()
	valid, err := os.ReadFile(filepath.Join(dir, "0000000000000001.seg"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:5])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "0000000000000001.seg"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, rec, err := OpenSpool(dir, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		n := 0
		for {
			_, ok, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			n++
		}
		if n != rec.Records {
			t.Fatalf("recovered %d, took %d", rec.Records, n)
		}
		if err := s.Append("new", []byte("z")); err != nil {
			t.Fatal(err)
		}
		r, ok, err := s.Next()
		if !ok || err != nil || r.ID != "new" || string(r.Data) != "z" {
			t.Fatalf("after recovery: %+v %v %v", r, ok, err)
		}
	})
}
