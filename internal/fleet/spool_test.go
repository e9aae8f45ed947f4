package fleet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func rec(i int) (string, []byte) {
	return fmt.Sprintf("s.r.%d", i), []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`+"\n", i, bytes.Repeat([]byte("x"), i%37)))
}

func appendN(t *testing.T, s *Spool, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		id, data := rec(i)
		if err := s.Append(id, data); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// takeAll takes every record and returns their numbers (checking that
// each record's data is the one appended with its id).
func takeAll(t *testing.T, s *Spool) (ns []int, last Pos) {
	t.Helper()
	for {
		r, ok, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return ns, last
		}
		var n int
		if _, err := fmt.Sscanf(r.ID, "s.r.%d", &n); err != nil {
			t.Fatalf("bad id %q", r.ID)
		}
		if _, want := rec(n); !bytes.Equal(r.Data, want) {
			t.Fatalf("record %d: data %q, want %q", n, r.Data, want)
		}
		ns = append(ns, n)
		last = r.End
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func open(t *testing.T, dir string, limit int64) (*Spool, Recovery) {
	t.Helper()
	s, r, err := OpenSpool(dir, limit)
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

func TestSpoolOrderAndReopen(t *testing.T) {
	for _, tc := range []struct {
		name       string
		limit      int64
		n, commitN int
	}{
		{"one segment, nothing committed", 1 << 20, 50, 0},
		{"one segment, half committed", 1 << 20, 50, 25},
		{"many segments, none committed", 32 << 10, 400, 0},
		{"many segments, some committed", 32 << 10, 400, 123},
		{"many segments, all committed", 32 << 10, 400, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir, tc.limit)
			appendN(t, s, 0, tc.n)
			// taken in order, interleaved with more appends
			var got []int
			var ends []Pos
			for {
				r, ok, err := s.Next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				var k int
				fmt.Sscanf(r.ID, "s.r.%d", &k)
				got = append(got, k)
				ends = append(ends, r.End)
			}
			if !slices.Equal(got, seq(0, tc.n)) {
				t.Fatalf("taken %v", got)
			}
			if tc.commitN > 0 {
				s.Commit(ends[tc.commitN-1])
			}
			if s.Size() > tc.limit {
				t.Errorf("size %d over the bound %d", s.Size(), tc.limit)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, recov := open(t, dir, tc.limit)
			defer s2.Close()
			if recov.Records != tc.n-tc.commitN || len(recov.Truncated) != 0 {
				t.Errorf("recovery %+v, want %d records", recov, tc.n-tc.commitN)
			}
			ns, _ := takeAll(t, s2)
			if !slices.Equal(ns, seq(tc.commitN, tc.n)) {
				t.Errorf("after reopening: %v, want %d..%d", ns, tc.commitN, tc.n-1)
			}
			// appends after reopening come after the recovered ones
			appendN(t, s2, tc.n, tc.n+5)
			ns, _ = takeAll(t, s2)
			if !slices.Equal(ns, seq(tc.n, tc.n+5)) {
				t.Errorf("appended after reopening: %v", ns)
			}
			if s2.Dropped() != 0 {
				t.Errorf("dropped %d", s2.Dropped())
			}
		})
	}
}

func TestSpoolRewind(t *testing.T) {
	s, _ := open(t, t.TempDir(), 8<<10)
	defer s.Close()
	appendN(t, s, 0, 100)
	var ends []Pos
	for range 60 {
		r, ok, err := s.Next()
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		ends = append(ends, r.End)
	}
	s.Commit(ends[19])
	if n := s.Rewind(); n != 40 {
		t.Errorf("rewind gave back %d, want 40", n)
	}
	if s.Pending() != 80 || s.Unacked() != 80 {
		t.Errorf("pending %d unacked %d, want 80", s.Pending(), s.Unacked())
	}
	ns, _ := takeAll(t, s)
	if !slices.Equal(ns, seq(20, 100)) {
		t.Errorf("after rewind: %v", ns)
	}
}

// TestSpoolBound: the segment files never exceed the bound; the oldest
// records are dropped, counted, and what remains is the newest ones in
// order.
func TestSpoolBound(t *testing.T) {
	for _, limit := range []int64{2 << 10, 5 << 10, 64 << 10} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir, limit)
			const n = 3000
			for i := range n {
				appendN(t, s, i, i+1)
				if s.Size() > limit {
					t.Fatalf("after %d: size %d over the bound %d", i, s.Size(), limit)
				}
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			var disk int64
			files, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
			for _, f := range files {
				fi, _ := os.Stat(f)
				disk += fi.Size()
			}
			if disk != s.Size() || disk > limit {
				t.Errorf("files hold %d bytes, spool says %d, bound %d", disk, s.Size(), limit)
			}
			ns, _ := takeAll(t, s)
			if len(ns) == 0 || uint64(len(ns))+s.Dropped() != n {
				t.Fatalf("kept %d + dropped %d != %d", len(ns), s.Dropped(), n)
			}
			if !slices.Equal(ns, seq(n-len(ns), n)) {
				t.Errorf("kept %v, want the newest in order", ns)
			}
			// more than the bound can never hold: lost and counted
			if err := s.Append("big", make([]byte, limit)); err == nil {
				t.Error("a record larger than the bound was accepted")
			}
			if s.Dropped() != n-uint64(len(ns))+1 {
				t.Errorf("dropped %d", s.Dropped())
			}
			s.Close()
		})
	}
}

// TestSpoolDropInFlight: records taken but not acknowledged whose segment
// the bound drops are counted as dropped when the reader rewinds (the
// broker lost them), not when they are acknowledged.
func TestSpoolDropInFlight(t *testing.T) {
	for _, acked := range []bool{false, true} {
		t.Run(fmt.Sprint("acked=", acked), func(t *testing.T) {
			s, _ := open(t, t.TempDir(), 2<<10)
			defer s.Close()
			appendN(t, s, 0, 10)
			var ends []Pos
			for range 10 {
				r, _, _ := s.Next()
				ends = append(ends, r.End)
			}
			appendN(t, s, 10, 200) // drops the first segments
			lost := s.Dropped()
			if acked {
				for _, e := range ends {
					s.Commit(e)
				}
			}
			s.Rewind()
			ns, _ := takeAll(t, s)
			want := uint64(200 - 10)
			if !acked {
				want = 200
			}
			if uint64(len(ns))+s.Dropped() != want {
				t.Errorf("kept %d + dropped %d (%d before the rewind) != %d", len(ns), s.Dropped(), lost, want)
			}
			if ns[len(ns)-1] != 199 || !slices.Equal(ns, seq(ns[0], 200)) {
				t.Errorf("kept %v", ns)
			}
		})
	}
}

// TestSpoolDamagedTail: a record cut short by a crash, or damaged, ends
// its segment: Open truncates it there and goes on.
func TestSpoolDamagedTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
		keep   int // records left of 20
	}{
		{"header cut", func(t *testing.T, p string, size int64) { appendBytes(t, p, []byte{9, 0, 0}) }, 20},
		{"body cut", func(t *testing.T, p string, size int64) { os.Truncate(p, size-3) }, 19},
		{"garbage appended", func(t *testing.T, p string, size int64) { appendBytes(t, p, bytes.Repeat([]byte{0xff}, 40)) }, 20},
		{"zeros appended", func(t *testing.T, p string, size int64) { appendBytes(t, p, make([]byte, 4096)) }, 20},
		{"checksum of the last", func(t *testing.T, p string, size int64) { flip(t, p, size-1) }, 19},
		{"checksum of the 6th", func(t *testing.T, p string, size int64) { flip(t, p, 5*int64(headerLen+2+6+30)+headerLen+5) }, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir, 1<<20)
			for i := range 20 {
				// fixed-size records: 2+6+30 bytes of body
				if err := s.Append(fmt.Sprintf("s.r.%03d", i)[:6], bytes.Repeat([]byte{byte('a' + i)}, 30)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			files, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
			if len(files) != 1 {
				t.Fatalf("files %v", files)
			}
			fi, _ := os.Stat(files[0])
			tc.damage(t, files[0], fi.Size())
			s2, recov := open(t, dir, 1<<20)
			defer s2.Close()
			if len(recov.Truncated) != 1 {
				t.Errorf("truncated %v", recov.Truncated)
			}
			if recov.Records != tc.keep {
				t.Errorf("recovered %d records, want %d", recov.Records, tc.keep)
			}
			fi2, _ := os.Stat(files[0])
			if fi2.Size() != int64(tc.keep*(headerLen+2+6+30)) {
				t.Errorf("file is %d bytes after recovery, want %d", fi2.Size(), tc.keep*(headerLen+38))
			}
			for i := range tc.keep {
				r, ok, err := s2.Next()
				if !ok || err != nil || r.Data[0] != byte('a'+i) {
					t.Fatalf("record %d: %v %v %q", i, ok, err, r.Data)
				}
			}
			// appending goes on after the cut
			if err := s2.Append("new", []byte("z")); err != nil {
				t.Fatal(err)
			}
			r, ok, err := s2.Next()
			if !ok || err != nil || string(r.Data) != "z" || r.ID != "new" {
				t.Errorf("after the cut: %+v %v %v", r, ok, err)
			}
		})
	}
}

func appendBytes(t *testing.T, p string, b []byte) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	f.Close()
}

func flip(t *testing.T, p string, off int64) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	f.ReadAt(b[:], off)
	b[0] ^= 0x40
	f.WriteAt(b[:], off)
	f.Close()
}

func TestSpoolBadBound(t *testing.T) {
	if _, _, err := OpenSpool(t.TempDir(), 100); err == nil {
		t.Error("a 100-byte spool was accepted")
	}
}
