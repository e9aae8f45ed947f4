package event

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func sampleTCP() *Event {
	return &Event{Time: time.Unix(1700000001, 0), Verdict: Received, Layer: "tcp",
		SrcIP: netip.MustParseAddr("198.51.100.7"), DstIP: netip.MustParseAddr("192.0.2.2"),
		IPProto: 6, SrcPort: 40000, DstPort: 80}
}

func TestUIDForm(t *testing.T) {
	for _, tc := range []struct {
		uid  uint64
		want string
	}{
		{0, ""},
		{1, "C00000000001"},
		{61, "C0000000000z"},
		{62, "C00000000010"},
		{^uint64(0), "CLygHa16AHYF"},
	} {
		got := UIDString(tc.uid)
		if got != tc.want {
			t.Errorf("%d: %q, want %q", tc.uid, got, tc.want)
		}
		if tc.uid != 0 {
			if back, ok := ParseUID(got); !ok || back != tc.uid {
				t.Errorf("ParseUID(%q) = %d %v", got, back, ok)
			}
		}
	}
	for _, bad := range []string{"", "C", "X00000000001", "C0000000000!", "CLygHa16AHYG", "Czzzzzzzzzzz", "C00000000000"} {
		if _, ok := ParseUID(bad); ok {
			t.Errorf("ParseUID(%q) accepted", bad)
		}
	}
}

func TestHistory(t *testing.T) {
	var h History
	for _, c := range []byte("ShAAADdDaFf") {
		h.Once(c)
	}
	h.Add('T')
	h.Add('T')
	if h.String() != "ShADdaFfTT" || h.Len() != 10 || !h.Has('F') || h.Has('R') {
		t.Errorf("history %q", h)
	}
	for range 20 {
		h.Add('T')
	}
	if h.Len() != 15 {
		t.Errorf("capacity: %d letters", h.Len())
	}
}

// TestConnEndJSON: the uid is written on every event that has one, the
// summary on the end event.
func TestConnEndJSON(t *testing.T) {
	e := sampleTCP()
	e.Kind = KindConnEnd
	e.UID = 62
	e.Conn = ConnEnd{End: EndFIN, Duration: 1500 * time.Millisecond, BytesIn: 7, BytesOut: 9, Proto: "http",
		PktsIn: 5, PktsOut: 4}
	for _, c := range []byte("ShADdFf") {
		e.Conn.History.Once(c)
	}
	var buf bytes.Buffer
	j := NewJSON(&buf)
	if err := j.Write(e); err != nil {
		t.Fatal(err)
	}
	j.Flush()
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["uid"] != "C00000000010" {
		t.Errorf("uid %v", m["uid"])
	}
	c, _ := m["conn"].(map[string]any)
	if c["history"] != "ShADdFf" || c["pkts_in"] != 5.0 || c["pkts_out"] != 4.0 || c["bytes_in"] != 7.0 || c["proto"] != "http" {
		t.Errorf("conn %v", c)
	}
	buf.Reset()
	l := NewLogfmt(&buf)
	if err := l.Write(e); err != nil {
		t.Fatal(err)
	}
	l.Flush()
	for _, want := range []string{" uid=C00000000010 ", " conn_pkts_in=5 ", " conn_pkts_out=4 ", " conn_history=ShADdFf"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("logfmt %q lacks %q", buf.String(), want)
		}
	}
	// no uid: no key
	buf.Reset()
	e2 := sampleTCP()
	j = NewJSON(&buf)
	_ = j.Write(e2)
	j.Flush()
	if strings.Contains(buf.String(), `"uid"`) {
		t.Errorf("uid written for none: %s", buf.String())
	}
}
