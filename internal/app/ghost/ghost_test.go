package ghost

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

func conn(t app.Transport, pers string) *app.Conn {
	return apptest.Conn(t, pers, "192.0.2.1:40000", "198.51.100.1:2222", time.Unix(1700000000, 0))
}

// packet builds a Gh0st packet around a login record.
func packet(login []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(login)
	w.Close()
	p := append([]byte("Gh0st"), make([]byte, 8)...)
	binary.LittleEndian.PutUint32(p[5:], uint32(headerLen+z.Len()))
	binary.LittleEndian.PutUint32(p[9:], uint32(len(login)))
	return append(p, z.Bytes()...)
}

// login is a plausible Gh0st LOGININFO record: token 0x66, OS version
// info, CPU speed, IP, host name...
func login() []byte {
	b := make([]byte, 0x1a0)
	b[0] = 0x66
	copy(b[4:], []byte{0x9c, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0})
	copy(b[0x100:], "DESKTOP-1234")
	return b
}

func field(fs []event.Field, k string) (any, bool) {
	for _, f := range fs {
		if f.Key == k {
			return f.Value, true
		}
	}
	return nil, false
}

func TestReplyBytes(t *testing.T) {
	want, _ := hex.DecodeString("4768307374" + "16000000" + "01000000" + "789c63000000010001")
	if !bytes.Equal(reply, want) {
		t.Fatalf("reply = %x, want %x", reply, want)
	}
}

func TestDetect(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		in   string
		want app.Verdict
	}{
		{"", app.No},
		{"G", app.Maybe},
		{"Gh0s", app.Maybe},
		{"Gh0st", app.Yes},
		{"Gh0st\x00\x00", app.Yes},
		{"gh0st", app.No},
		{"GET /", app.No},
		{"Gh1st", app.No},
	} {
		if got := h.Detect([]byte(tc.in), app.TCP); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestServe(t *testing.T) {
	h := New()
	p := packet(login())
	lying := append([]byte("Gh0st\xff\xff\xff\xff\x01\x00\x00\x00"), p[13:]...)
	short := append([]byte("Gh0st\x05\x00\x00\x00\x01\x00\x00\x00"), 1, 2, 3)
	garbage := append([]byte("Gh0st\x14\x00\x00\x00\x01\x00\x00\x00"), []byte("notzlib")...)
	two := append(append([]byte(nil), p...), p...)
	for _, pers := range []string{"linux", "masscanned"} {
		for _, tc := range []struct {
			name     string
			tr       app.Transport
			in       []byte
			needMore bool
			consumed int
			reply    bool
			close    bool
			fields   map[string]any
		}{
			{"login", app.TCP, p, false, len(p), true, false, map[string]any{"total_length": len(p), "uncompressed_length": 0x1a0, "login_length": 0x1a0}},
			{"two packets", app.TCP, two, false, len(p), true, false, nil},
			{"header only", app.TCP, p[:10], true, 0, false, false, nil},
			{"partial body", app.TCP, p[:len(p)-1], true, 0, false, false, nil},
			{"lying length", app.TCP, lying, false, len(lying), true, true, map[string]any{"bad_length": true}},
			{"short length", app.TCP, short, false, len(short), true, true, map[string]any{"bad_length": true}},
			{"not zlib", app.TCP, garbage, false, len(garbage), true, false, nil},
			{"bare magic", app.TCP, []byte("Gh0st"), true, 0, false, false, nil},
			{"udp login", app.UDP, p, false, len(p), false, false, map[string]any{"login_length": 0x1a0}},
			{"udp truncated", app.UDP, p[:20], false, 20, false, false, map[string]any{"bad_length": true}},
			{"udp bare", app.UDP, []byte("Gh0st"), false, 5, false, false, nil},
		} {
			res := h.Serve(conn(tc.tr, pers), tc.in)
			if res.NeedMore != tc.needMore || res.Consumed != tc.consumed || res.Close != tc.close {
				t.Errorf("%s/%s: got needMore=%v consumed=%d close=%v", pers, tc.name, res.NeedMore, res.Consumed, res.Close)
			}
			if tc.reply != (res.Reply != nil) {
				t.Errorf("%s/%s: reply = %x", pers, tc.name, res.Reply)
			}
			if tc.reply && !bytes.Equal(res.Reply, reply) {
				t.Errorf("%s/%s: reply = %x", pers, tc.name, res.Reply)
			}
			for k, v := range tc.fields {
				if got, ok := field(res.Fields, k); !ok || got != v {
					t.Errorf("%s/%s: field %s = %v, want %v", pers, tc.name, k, got, v)
				}
			}
		}
	}
}

// TestUpstreamCheck is upstream's test_ipv4_tcp_ghost assertion on the reply.
func TestUpstreamCheck(t *testing.T) {
	res := New().Serve(conn(app.TCP, "masscanned"), packet(login()))
	r := res.Reply
	if !bytes.HasPrefix(r, []byte("Gh0st")) || int(binary.LittleEndian.Uint32(r[5:9])) != len(r) {
		t.Fatalf("bad reply %x", r)
	}
	zr, err := zlib.NewReader(bytes.NewReader(r[13:]))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.ReadFrom(zr)
	if out.Len() != int(binary.LittleEndian.Uint32(r[9:13])) {
		t.Fatalf("uncompressed length %d", out.Len())
	}
}

// TestBomb checks that decompression is bounded.
func TestBomb(t *testing.T) {
	p := packet(make([]byte, 10<<20))
	res := New().Serve(conn(app.UDP, "linux"), p)
	if v, _ := field(res.Fields, "login_length"); v != maxInflate {
		t.Fatalf("login_length = %v", v)
	}
}

func FuzzGhost(f *testing.F) {
	f.Add(packet(login()))
	f.Add([]byte("Gh0st\xff\xff\xff\xff\x01\x00\x00\x00x\x9c"))
	f.Add([]byte("Gh0st"))
	h := New()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tr := range []app.Transport{app.TCP, app.UDP} {
			apptest.Drive(t, h, conn(tr, "linux"), data, apptest.Limits{NoUDPReply: true})
		}
	})
}
