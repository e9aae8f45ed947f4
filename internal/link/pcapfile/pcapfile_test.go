package pcapfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/masscanned-go/masscanned/internal/link"
)

type testFrame struct {
	t    time.Time
	data []byte
}

func frames() []testFrame {
	eth := func(tail ...byte) []byte {
		b := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06}
		return append(b, tail...)
	}
	return []testFrame{
		{time.Unix(1700000000, 1000), eth(1, 2, 3)},
		{time.Unix(1700000000, 999_999_000), eth(bytes.Repeat([]byte{0xab}, 1500)...)},
		{time.Unix(1700000123, 500_000), eth()},
	}
}

// writeCapture writes frames with pcapgo in one of the supported formats.
func writeCapture(t *testing.T, format string, lt layers.LinkType, fs []testFrame) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in."+format)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ci := func(fr testFrame) gopacket.CaptureInfo {
		return gopacket.CaptureInfo{Timestamp: fr.t, CaptureLength: len(fr.data), Length: len(fr.data)}
	}
	switch format {
	case "pcap", "pcapns":
		w := pcapgo.NewWriter(f)
		if format == "pcapns" {
			w = pcapgo.NewWriterNanos(f)
		}
		if err := w.WriteFileHeader(65536, lt); err != nil {
			t.Fatal(err)
		}
		for _, fr := range fs {
			if err := w.WritePacket(ci(fr), fr.data); err != nil {
				t.Fatal(err)
			}
		}
	case "pcapng":
		w, err := pcapgo.NewNgWriter(f, lt)
		if err != nil {
			t.Fatal(err)
		}
		for _, fr := range fs {
			if err := w.WritePacket(ci(fr), fr.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("format %s", format)
	}
	return path
}

func readAll(t *testing.T, r *Reader) []testFrame {
	t.Helper()
	var got []testFrame
	for {
		data, ts, err := r.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, testFrame{ts, append([]byte(nil), data...)})
	}
}

func TestReadFormats(t *testing.T) {
	for _, tc := range []struct {
		format string
		res    time.Duration // timestamp resolution of the format
	}{
		{"pcap", time.Microsecond},
		{"pcapns", time.Nanosecond},
		{"pcapng", time.Microsecond},
	} {
		t.Run(tc.format, func(t *testing.T) {
			want := frames()
			path := writeCapture(t, tc.format, layers.LinkTypeEthernet, want)
			r, err := OpenReader(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := readAll(t, r)
			if len(got) != len(want) {
				t.Fatalf("%d frames, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i].data, want[i].data) {
					t.Errorf("frame %d differs", i)
				}
				if !got[i].t.Equal(want[i].t.Truncate(tc.res)) {
					t.Errorf("frame %d: time %v, want %v", i, got[i].t, want[i].t)
				}
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw := writeCapture(t, "pcap", layers.LinkTypeRaw, frames())
	rawng := writeCapture(t, "pcapng", layers.LinkTypeLinuxSLL, frames())
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.pcap"), "no such file"},
		{"empty", file("empty", nil), "too short"},
		{"garbage", file("garbage", []byte("GET / HTTP/1.1\r\n\r\n")), "not a pcap or pcapng"},
		{"short-header", file("short", []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0}), "bad pcap file"},
		{"bad-ng", file("badng", []byte{0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 1, 2, 3, 4}), "bad pcapng file"},
		{"not-ethernet", raw, "is not Ethernet"},
		{"not-ethernet-ng", rawng, "is not Ethernet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := OpenReader(tc.path)
			if err == nil {
				r.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("error %q, want path and %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
		})
	}
}

func TestTruncatedCapture(t *testing.T) {
	path := writeCapture(t, "pcap", layers.LinkTypeEthernet, frames())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; ; i++ {
		_, _, err := r.Next()
		if err == nil {
			continue
		}
		if err == io.EOF || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("after %d frames: %v, want a truncation error", i, err)
		}
		break
	}
}

func TestWriterRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.pcap")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	want := frames()
	for _, fr := range want {
		if err := w.WriteFrame(fr.t, fr.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(time.Time{}, []byte{1}); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if pr := r.src.(*pcapgo.Reader); pr.Snaplen() != Snaplen {
		t.Fatalf("snaplen %d", pr.Snaplen())
	}
	got := readAll(t, r)
	if len(got) != len(want) {
		t.Fatalf("%d frames", len(got))
	}
	for i := range want {
		if !bytes.Equal(got[i].data, want[i].data) || !got[i].t.Equal(want[i].t.Truncate(time.Microsecond)) {
			t.Errorf("frame %d: %v % x", i, got[i].t, got[i].data[:14])
		}
	}
}

func TestOffline(t *testing.T) {
	for _, withWriter := range []bool{true, false} {
		name := "no-writer"
		if withWriter {
			name = "writer"
		}
		t.Run(name, func(t *testing.T) {
			in := writeCapture(t, "pcapng", layers.LinkTypeEthernet, frames())
			r, err := OpenReader(in)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "replies.pcap")
			var w *Writer
			if withWriter {
				if w, err = Create(out); err != nil {
					t.Fatal(err)
				}
			}
			l := link.Link(NewOffline(r, w))
			if b := link.BatchSize(l); b != 1 {
				t.Fatalf("batch size %d, want 1", b)
			}
			fs := make([]link.Frame, 8)
			n := 0
			for {
				k, err := l.Recv(fs, 0)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if k != 1 {
					t.Fatalf("Recv returned %d frames, want 1", k)
				}
				f := fs[0]
				// Reply: the frame with its MACs swapped.
				reply := append([]byte(nil), f.Data...)
				copy(reply[0:6], f.Data[6:12])
				copy(reply[6:12], f.Data[0:6])
				if m, err := l.Send([][]byte{reply}); err != nil || m != 1 {
					t.Fatal(m, err)
				}
				n++
			}
			if st := l.Stats(); st.Received != 3 || st.Sent != 3 || n != 3 {
				t.Fatalf("stats %+v, n %d", st, n)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Recv(fs, 0); !errors.Is(err, link.ErrClosed) {
				t.Fatalf("Recv after Close: %v", err)
			}
			if !withWriter {
				return
			}
			rr, err := OpenReader(out)
			if err != nil {
				t.Fatal(err)
			}
			defer rr.Close()
			got := readAll(t, rr)
			want := frames()
			if len(got) != len(want) {
				t.Fatalf("%d replies", len(got))
			}
			for i := range want {
				if !got[i].t.Equal(want[i].t.Truncate(time.Microsecond)) {
					t.Errorf("reply %d stamped %v, want %v", i, got[i].t, want[i].t)
				}
				if !bytes.Equal(got[i].data[0:6], want[i].data[6:12]) {
					t.Errorf("reply %d: % x", i, got[i].data[:12])
				}
			}
		})
	}
}

// fakeLink records sent frames and fails when told (after failAfter
// more frames).
type fakeLink struct {
	sent      [][]byte
	fail      bool
	failAfter int
	closed    bool
}

func (f *fakeLink) Recv([]link.Frame, time.Duration) (int, error) { return 0, io.EOF }
func (f *fakeLink) Send(bs [][]byte) (int, error) {
	for i, b := range bs {
		if f.fail {
			if f.failAfter == 0 {
				return i, errors.New("send failed")
			}
			f.failAfter--
		}
		f.sent = append(f.sent, append([]byte(nil), b...))
	}
	return len(bs), nil
}
func (f *fakeLink) Close() error      { f.closed = true; return nil }
func (f *fakeLink) Stats() link.Stats { return link.Stats{Sent: uint64(len(f.sent))} }

func TestTee(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tee.pcap")
	rec, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	inner := &fakeLink{}
	l := NewTee(inner, rec)
	clock := time.Unix(1700000000, 0)
	rec.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	for _, fr := range frames()[:2] {
		if _, err := l.Send([][]byte{fr.data}); err != nil {
			t.Fatal(err)
		}
	}
	// a batch sent in part: only what was sent is recorded
	inner.fail, inner.failAfter = true, 1
	if n, err := l.Send([][]byte{frames()[2].data, []byte("not recorded")}); err == nil || n != 1 {
		t.Fatalf("partial send: %d, %v", n, err)
	}
	if n, err := l.Send([][]byte{[]byte("not recorded")}); err == nil || n != 0 {
		t.Fatalf("inner send error not returned: %d, %v", n, err)
	}
	if l.Stats().Sent != 3 {
		t.Fatalf("stats %+v", l.Stats())
	}
	if err := l.Close(); err != nil || !inner.closed {
		t.Fatalf("Close: %v, inner closed %v", err, inner.closed)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readAll(t, r)
	want := frames()
	if len(got) != len(want) {
		t.Fatalf("%d frames recorded", len(got))
	}
	for i := range want {
		if !bytes.Equal(got[i].data, want[i].data) || !got[i].t.Equal(time.Unix(1700000001+int64(i), 0)) {
			t.Errorf("frame %d: %v", i, got[i].t)
		}
	}
}

// TestTeeReopen: after the file is renamed and Reopen called, the old file
// is complete and new frames go to a new file at the same path.
func TestTeeReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tee.pcap")
	rec, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	l := NewTee(&fakeLink{}, rec)
	fs := frames()
	if _, err := l.Send([][]byte{fs[0].data}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := rec.Reopen(); err != nil {
		t.Fatal(err)
	}
	for _, f := range fs[1:] {
		if _, err := l.Send([][]byte{f.data}); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(l.Close(), rec.Close()); err != nil {
		t.Fatal(err)
	}
	count := func(p string) int {
		r, err := OpenReader(p)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		return len(readAll(t, r))
	}
	if o, n := count(path+".1"), count(path); o != 1 || n != len(fs)-1 {
		t.Errorf("old file %d frames, new file %d; want 1 and %d", o, n, len(fs)-1)
	}
	bad := &Recorder{path: filepath.Join(dir, "missing", "x.pcap")}
	if err := bad.Reopen(); err == nil {
		t.Error("Reopen into a missing directory succeeded")
	}
}
