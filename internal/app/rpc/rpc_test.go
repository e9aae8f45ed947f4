package rpc

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

func conn(t app.Transport, pers, server string) *app.Conn {
	return apptest.Conn(t, pers, "192.0.2.1:700", server, time.Unix(1700000000, 0))
}

func be(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

func xstr(s string) []byte {
	w := writer(nil)
	w.str(s)
	return w
}

// callMsg builds a call body with AUTH_NONE credentials.
func callMsg(xid, rpcvers, prog, vers, proc uint32, args ...[]byte) []byte {
	b := be(xid, 0, rpcvers, prog, vers, proc, 0, 0, 0, 0)
	for _, a := range args {
		b = append(b, a...)
	}
	return b
}

// authSysCall builds a call with an AUTH_SYS credential whose machine
// name needs XDR padding.
func authSysCall(xid, prog, vers, proc uint32, args []byte) []byte {
	cred := append(be(0x12345678), xstr("client")...) // 6 bytes + 2 pad
	cred = append(cred, be(1000, 100, 1, 100)...)
	b := be(xid, 0, 2, prog, vers, proc, 1, uint32(len(cred)))
	b = append(b, cred...)
	b = append(b, be(0, 0)...)
	return append(b, args...)
}

func rm(body []byte) []byte { return append(be(0x80000000|uint32(len(body))), body...) }

func accepted(xid uint32, rest ...uint32) []byte {
	return be(append([]uint32{xid, 1, 0, 0, 0}, rest...)...)
}

func field(fs []event.Field, k string) any {
	for _, f := range fs {
		if f.Key == k {
			return f.Value
		}
	}
	return nil
}

func TestDetect(t *testing.T) {
	h := New()
	c := callMsg(0x00112233, 2, 100000, 2, 4)
	for _, tc := range []struct {
		name string
		in   []byte
		tr   app.Transport
		want app.Verdict
	}{
		{"udp call", c, app.UDP, app.Yes},
		{"udp call xid G", callMsg(0x47000000, 2, 100003, 3, 0), app.UDP, app.Yes},
		{"tcp call", rm(c), app.TCP, app.Yes},
		{"tcp prefix", rm(c)[:9], app.TCP, app.Maybe},
		{"tcp marker only", rm(c)[:3], app.TCP, app.Maybe},
		{"udp prefix", c[:8], app.UDP, app.Maybe},
		{"udp reply", be(1, 1, 0, 0, 0, 0), app.UDP, app.No},
		{"tcp without marker", c, app.TCP, app.No},
		{"udp with marker", rm(c), app.UDP, app.No},
		{"http", []byte("GET / HTTP/1.1\r\n\r\n"), app.TCP, app.No},
		{"huge fragment", append(be(0xffffffff), c...), app.TCP, app.No},
	} {
		if got := h.Detect(tc.in, tc.tr); got != tc.want {
			t.Errorf("%s: Detect = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCalls(t *testing.T) {
	h := New()
	uaddr4 := xstr("198.51.100.7.0.111")
	for _, tc := range []struct {
		name   string
		pers   string
		tr     app.Transport
		server string
		call   []byte
		want   []byte
		fields map[string]any
	}{
		{"null", "linux", app.UDP, "198.51.100.7:111", callMsg(1, 2, 100000, 2, 0), accepted(1, 0), map[string]any{"procedure_name": "NULL", "program_name": "portmapper"}},
		{"rpc v3", "linux", app.UDP, "198.51.100.7:111", callMsg(2, 3, 100000, 2, 0), be(2, 1, 1, 0, 2, 2), map[string]any{"reply": "RPC_MISMATCH"}},
		{"version 0", "linux", app.UDP, "198.51.100.7:111", callMsg(3, 2, 100000, 0, 0), accepted(3, 2, 2, 4), nil},
		{"nmap rpccheck version", "masscanned", app.UDP, "198.51.100.7:111", callMsg(3, 2, 100000, 104316, 0), accepted(3, 2, 2, 4), nil},
		{"getport self", "linux", app.UDP, "198.51.100.7:111", callMsg(4, 2, 100000, 2, 3, be(100000, 2, 17, 0)), accepted(4, 0, 111), map[string]any{"getport_program": 100000}},
		{"getport nfs", "linux", app.TCP, "198.51.100.7:2049", callMsg(5, 2, 100000, 2, 3, be(100003, 3, 6, 0)), accepted(5, 0, 0), map[string]any{"getport_program": 100003}},
		{"getport garbage", "linux", app.UDP, "198.51.100.7:111", callMsg(6, 2, 100000, 2, 3, be(100000)), accepted(6, 4), nil},
		{"getaddr self", "linux", app.UDP, "198.51.100.7:111", callMsg(7, 2, 100000, 4, 3, be(100000, 2), xstr("udp"), xstr(""), xstr("")), append(accepted(7, 0), uaddr4...), map[string]any{"getport_netid": "udp"}},
		{"getaddr v6", "linux", app.UDP, "[2001:db8::7]:111", callMsg(7, 2, 100000, 3, 3, be(100000, 2), xstr("udp6"), xstr(""), xstr("")), append(accepted(7, 0), xstr("2001:db8::7.0.111")...), nil},
		{"getaddr other", "linux", app.UDP, "198.51.100.7:111", callMsg(8, 2, 100000, 4, 3, be(100005, 1), xstr("tcp"), xstr(""), xstr("")), accepted(8, 0, 0), nil},
		{"getaddr garbage", "linux", app.UDP, "198.51.100.7:111", callMsg(9, 2, 100000, 4, 3, be(100005, 1, 1000)), accepted(9, 4), nil},
		{"dump v2 udp", "linux", app.UDP, "198.51.100.7:111", callMsg(10, 2, 100000, 2, 4), accepted(10, 0, 1, 100000, 4, 17, 111, 1, 100000, 3, 17, 111, 1, 100000, 2, 17, 111, 0), nil},
		{"dump v2 tcp masscanned", "masscanned", app.TCP, "198.51.100.7:111", callMsg(10, 2, 100000, 2, 4), rm(accepted(10, 0, 1, 100000, 2, 6, 111, 1, 100000, 3, 6, 111, 1, 100000, 4, 6, 111, 0)), nil},
		{"callit", "linux", app.UDP, "198.51.100.7:111", callMsg(11, 2, 100000, 2, 5), accepted(11, 3), map[string]any{"reply": "PROC_UNAVAIL"}},
		{"set", "linux", app.UDP, "198.51.100.7:111", callMsg(11, 2, 100000, 2, 1, be(1, 2, 3, 4)), accepted(11, 0, 0), nil},
		{"set masscanned", "masscanned", app.UDP, "198.51.100.7:111", callMsg(11, 2, 100000, 2, 1, be(1, 2, 3, 4)), accepted(11, 3), nil},
		{"nfs null linux", "linux", app.UDP, "198.51.100.7:2049", callMsg(12, 2, 100003, 3, 0), accepted(12, 1), map[string]any{"program_name": "nfs", "reply": "PROG_UNAVAIL"}},
		{"nfs null masscanned", "masscanned", app.UDP, "198.51.100.7:2049", callMsg(12, 2, 100003, 3, 0), accepted(12, 0), nil},
		{"nfs getattr masscanned", "masscanned", app.UDP, "198.51.100.7:2049", callMsg(12, 2, 100003, 3, 1), accepted(12, 1), nil},
		{"auth_sys", "linux", app.TCP, "198.51.100.7:111", authSysCall(13, 100000, 2, 3, be(100000, 2, 6, 0)), rm(accepted(13, 0, 111)), map[string]any{"machinename": "client", "uid": 1000, "gid": 100, "cred_flavor": 1}},
		{"truncated", "linux", app.UDP, "198.51.100.7:111", callMsg(14, 2, 100000, 2, 0)[:30], nil, map[string]any{"error": "truncated call"}},
		{"reply msg", "linux", app.UDP, "198.51.100.7:111", accepted(15, 0), nil, nil},
	} {
		c := conn(tc.tr, tc.pers, tc.server)
		in := tc.call
		if tc.tr == app.TCP {
			in = rm(in)
			if tc.want != nil && !bytes.HasPrefix(tc.want, be(0x80000000|uint32(len(tc.want)-4))) {
				tc.want = rm(tc.want)
			}
		}
		res := h.Serve(c, in)
		if res.NeedMore || res.Consumed != len(in) {
			t.Errorf("%s: needMore=%v consumed=%d/%d", tc.name, res.NeedMore, res.Consumed, len(in))
		}
		if !bytes.Equal(res.Reply, tc.want) {
			t.Errorf("%s: reply\n got %x\nwant %x", tc.name, res.Reply, tc.want)
		}
		for k, v := range tc.fields {
			if got := field(res.Fields, k); got != v {
				t.Errorf("%s: field %s = %v, want %v", tc.name, k, got, v)
			}
		}
	}
}

func TestDumpV4(t *testing.T) {
	res := New().Serve(conn(app.TCP, "linux", "198.51.100.7:111"), rm(callMsg(1, 2, 100000, 4, 4)))
	var want []byte
	want = append(want, accepted(1, 0)...)
	for _, v := range []uint32{4, 3, 2} {
		want = append(want, be(1, 100000, v)...)
		want = append(want, xstr("tcp")...)
		want = append(want, xstr("198.51.100.7.0.111")...)
		want = append(want, xstr("superuser")...)
	}
	want = append(want, be(0)...)
	if !bytes.Equal(res.Reply, rm(want)) {
		t.Fatalf("got %x\nwant %x", res.Reply, rm(want))
	}
}

func TestDumpMaxReply(t *testing.T) {
	call := callMsg(1, 2, 100000, 4, 4)
	c := conn(app.UDP, "linux", "198.51.100.7:111")
	c.MaxReply = 3 * len(call)
	res := New().Serve(c, call)
	if len(res.Reply) > c.MaxReply {
		t.Fatalf("reply %d > %d", len(res.Reply), c.MaxReply)
	}
	if !bytes.HasSuffix(res.Reply, be(0)) || !strings.Contains(string(res.Reply), "superuser") {
		t.Fatalf("bad reply %x", res.Reply)
	}
}

func TestTCPStream(t *testing.T) {
	h := New()
	c := conn(app.TCP, "linux", "198.51.100.7:111")
	a := callMsg(0xa, 2, 100000, 2, 0)
	b := callMsg(0xb, 2, 100000, 2, 0)
	// a in two fragments, then b.
	stream := append(be(uint32(16)), a[:16]...)
	stream = append(stream, be(0x80000000|uint32(len(a)-16))...)
	stream = append(stream, a[16:]...)
	first := len(stream)
	stream = append(stream, rm(b)...)
	for i := 0; i < first; i++ {
		if res := h.Serve(c, stream[:i]); !res.NeedMore {
			t.Fatalf("prefix %d: %+v", i, res)
		}
	}
	res := h.Serve(c, stream)
	if res.Consumed != first || !bytes.Equal(res.Reply, rm(accepted(0xa, 0))) {
		t.Fatalf("first: consumed %d reply %x", res.Consumed, res.Reply)
	}
	res = h.Serve(c, stream[first:])
	if res.Consumed != len(stream)-first || !bytes.Equal(res.Reply, rm(accepted(0xb, 0))) {
		t.Fatalf("second: consumed %d reply %x", res.Consumed, res.Reply)
	}
	// Oversized record: rejected.
	res = h.Serve(c, be(MaxRecord+1))
	if res.NeedMore || res.Consumed != 0 || res.Reply != nil {
		t.Fatalf("oversized: %+v", res)
	}
}

// TestNmapRPCCheck feeds nmap's RPCCheck probe (nmap-service-probes).
func TestNmapRPCCheck(t *testing.T) {
	p, _ := hex.DecodeString("80000028" + "72fe1d13" + "00000000" + "00000002" + "000186a0" + "0001977c" + "00000000" + "00000000000000000000000000000000")
	h := New()
	if h.Detect(p, app.TCP) != app.Yes {
		t.Fatal("not detected")
	}
	res := h.Serve(conn(app.TCP, "masscanned", "198.51.100.7:111"), p)
	if !bytes.Equal(res.Reply, rm(accepted(0x72fe1d13, 2, 2, 4))) {
		t.Fatalf("reply %x", res.Reply)
	}
}

func FuzzRPC(f *testing.F) {
	f.Add(rm(callMsg(1, 2, 100000, 2, 4)))
	f.Add(callMsg(4, 2, 100000, 4, 3, be(100000, 2), xstr("udp"), xstr(""), xstr("")))
	f.Add(rm(authSysCall(13, 100000, 2, 3, be(100000, 2, 6, 0))))
	h := New()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tr := range []app.Transport{app.TCP, app.UDP} {
			for _, pers := range []string{"linux", "masscanned"} {
				c := conn(tr, pers, "198.51.100.7:111")
				c.MaxReply = 3 * len(data)
				apptest.Drive(t, h, c, data, apptest.Limits{})
			}
		}
	})
}
