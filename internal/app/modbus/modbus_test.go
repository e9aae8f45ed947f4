package modbus

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
)

var now = time.Date(2026, 11, 30, 9, 24, 13, 0, time.UTC)

func conn() *app.Conn {
	return apptest.Conn(app.TCP, "linux", "198.51.100.1:40000", "192.0.2.10:502", now)
}

func adu(tid uint16, unit byte, pdu ...byte) []byte {
	b := []byte{byte(tid >> 8), byte(tid), 0, 0, 0, byte(1 + len(pdu)), unit}
	return append(b, pdu...)
}

func cat(b []byte, s ...string) []byte {
	for _, x := range s {
		b = append(b, x...)
	}
	return b
}

func TestDetect(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		in   []byte
		want app.Verdict
	}{
		{nil, app.Maybe},
		{[]byte{0, 1, 0, 0, 0, 6}, app.Maybe},
		{adu(1, 1, 3, 0, 0, 0, 10), app.Yes},
		{adu(1, 1, 3, 0, 0, 0, 10)[:8], app.Yes},
		{adu(7, 0xff, 0x11), app.Yes},
		{adu(0, 1, 0x2B, 0x0E, 1, 0), app.Yes},
		{adu(0, 1, 0x2B), app.No}, // length 2 for 0x2B
		{adu(0, 1, 0x10, 0, 0, 0, 1, 2, 0, 42), app.Yes},
		{adu(0, 1, 0x10, 0, 0, 0, 1, 4, 0, 42), app.No}, // byte count and length disagree
		{adu(0, 1, 0x63, 0, 0), app.No},                 // unknown function
		{adu(0, 1, 3, 0, 0, 0), app.No},                 // short read request
		{[]byte{0, 1, 0, 1, 0, 6, 1, 3}, app.No},        // protocol id 1
		{[]byte{0, 1, 0, 0, 1, 6, 1, 3}, app.No},        // length > 254
		{[]byte("GET / HTTP/1.1\r\n"), app.No},
		{[]byte("*1\r\n$4\r\nPING\r\n"), app.No},
		{[]byte("\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00"), app.No}, // DNS over TCP
		{[]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), app.No},
	} {
		if got := h.Detect(tc.in, app.TCP); got != tc.want {
			t.Errorf("Detect(% x) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func serve(t *testing.T, c *app.Conn, in []byte) ([]byte, map[string]any) {
	t.Helper()
	res := New().Serve(c, in)
	if res.NeedMore || res.Consumed != len(in) {
		t.Fatalf("% x: %+v", in, res)
	}
	f := map[string]any{}
	for _, x := range res.Fields {
		f[x.Key] = x.Value
	}
	return res.Reply, f
}

func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []byte
		want   []byte // nil: check only the header and length
		fields map[string]any
	}{
		{"read holding", adu(0x1234, 1, 3, 0, 0, 0, 10), nil, map[string]any{"function": "read_holding_registers", "address": 0, "quantity": 10, "unit_id": 1}},
		{"read coils", adu(1, 1, 1, 0, 0x10, 0, 9), nil, map[string]any{"quantity": 9}},
		{"quantity 0", adu(1, 1, 3, 0, 0, 0, 0), adu(1, 1, 0x83, 3), nil},
		{"quantity 126", adu(1, 1, 4, 0, 0, 0, 126), adu(1, 1, 0x84, 3), nil},
		{"address overflow", adu(1, 1, 3, 0xff, 0xff, 0, 2), adu(1, 1, 0x83, 2), nil},
		{"write register", adu(2, 1, 6, 0, 4, 0, 42), adu(2, 1, 0x86, 1), map[string]any{"function": "write_single_register", "address": 4, "values": []int{42}}},
		{"write coil", adu(2, 1, 5, 0, 1, 0xff, 0), adu(2, 1, 0x85, 1), map[string]any{"values": []int{65280}}},
		{"write multiple", adu(3, 1, 0x10, 0, 8, 0, 2, 4, 0, 1, 0, 2), adu(3, 1, 0x90, 1), map[string]any{"address": 8, "quantity": 2, "values": []int{1, 2}}},
		{"write coils", adu(3, 1, 0x0F, 0, 0, 0, 3, 1, 5), adu(3, 1, 0x8F, 1), map[string]any{"values": []int{1, 0, 1}}},
		{"diagnostics", adu(4, 1, 8, 0, 0, 0x12, 0x34), adu(4, 1, 0x88, 1), map[string]any{"function": "diagnostics"}},
		{"server id", adu(5, 1, 0x11), adu(5, 1, cat([]byte{0x11, 14, 1, 0xff}, "BMX P34 2020")...), nil},
		{"device id basic", adu(6, 1, 0x2B, 0x0E, 1, 0),
			adu(6, 1, cat([]byte{0x2B, 0x0E, 1, 0x82, 0, 0, 3, 0, 18}, "Schneider Electric", "\x01\x0c", "BMX P34 2020", "\x02\x05", "v3.10")...),
			map[string]any{"read_device_id_code": 1, "object_id": 0}},
		{"device id individual", adu(6, 1, 0x2B, 0x0E, 4, 4), adu(6, 1, cat([]byte{0x2B, 0x0E, 4, 0x82, 0, 0, 1, 4, 12}, "Modicon M340")...), nil},
		{"device id bad object", adu(6, 1, 0x2B, 0x0E, 4, 9), adu(6, 1, 0xAB, 2), nil},
		{"device id bad code", adu(6, 1, 0x2B, 0x0E, 7, 0), adu(6, 1, 0xAB, 3), nil},
		{"canopen", adu(6, 1, 0x2B, 0x0D, 0), adu(6, 1, 0xAB, 1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, f := serve(t, conn(), tc.in)
			if tc.want != nil && !bytes.Equal(out, tc.want) {
				t.Errorf("reply\n% x\nwant\n% x", out, tc.want)
			}
			if len(out) < 9 || !bytes.Equal(out[:5], tc.in[:5]) || int(out[5]) != len(out)-6 || out[6] != tc.in[6] {
				t.Errorf("bad MBAP in % x", out)
			}
			for k, v := range tc.fields {
				if fmt.Sprint(f[k]) != fmt.Sprint(v) {
					t.Errorf("field %s = %v, want %v", k, f[k], v)
				}
			}
		})
	}
	// reads: the right size, the same values on every connection
	a, _ := serve(t, conn(), adu(1, 1, 3, 0, 0, 0, 10))
	b, _ := serve(t, conn(), adu(1, 1, 3, 0, 0, 0, 10))
	if len(a) != 9+20 || a[8] != 20 || !bytes.Equal(a, b) {
		t.Errorf("holding registers % x / % x", a, b)
	}
	coils, _ := serve(t, conn(), adu(1, 1, 1, 0, 0x10, 0, 9))
	if len(coils) != 9+2 || coils[8] != 2 || coils[10]&0xfe != 0 {
		t.Errorf("coils % x", coils)
	}
}

func TestIdentityBanner(t *testing.T) {
	c := conn()
	c.Banners = map[string]string{"modbus": "Siemens|6ES7 315-2EH14-0AB0|V3.2.8"}
	out, _ := serve(t, c, adu(6, 1, 0x2B, 0x0E, 2, 0))
	for _, s := range []string{"Siemens", "6ES7 315-2EH14-0AB0", "V3.2.8", "Modicon M340"} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("no %q in %q", s, out)
		}
	}
	if bytes.Contains(out, []byte("schneider-electric.com")) {
		t.Error("Schneider URL for another vendor")
	}
}

func TestBadHeader(t *testing.T) {
	res := New().Serve(conn(), []byte{0, 1, 0, 5, 0, 6, 1, 3, 0, 0, 0, 1})
	if !res.Close || len(res.Reply) != 0 {
		t.Errorf("%+v", res)
	}
	res = New().Serve(conn(), adu(1, 1, 3, 0, 0, 0, 10)[:10])
	if !res.NeedMore {
		t.Errorf("partial: %+v", res)
	}
}

// TestNmapProbes: nmap names Modbus from a device's answer to its
// DNSVersionBindReqTCP probe, whose "protocol id" is 6: that probe stays
// DNS's (a Modbus/TCP server must not claim it); the device
// identification is checked with modbus-discover in e2e.
func TestNmapProbes(t *testing.T) {
	probe := []byte("\x00\x1e\x00\x06\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03")
	if v := New().Detect(probe, app.TCP); v != app.No {
		t.Errorf("DNSVersionBindReqTCP detected: %v", v)
	}
}

func FuzzModbus(f *testing.F) {
	f.Add(adu(1, 1, 3, 0, 0, 0, 10))
	f.Add(append(adu(0, 1, 0x11), adu(0, 1, 0x2B, 0x0E, 1, 0)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		apptest.Drive(t, New(), conn(), data, apptest.Limits{NoUDPReply: true})
	})
}
