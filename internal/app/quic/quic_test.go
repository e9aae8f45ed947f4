package quic

import (
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/masscanned-go/masscanned/internal/app"
)

// TestChromeInitial: the QUIC Initial of FoxIO's Chrome capture (the
// tlsfp test vectors) is detected and recorded with the JA4 FoxIO's tool
// computes for it; nothing is answered.
func TestChromeInitial(t *testing.T) {
	f, err := os.Open("../../tlsfp/testdata/ja4/chrome-cloudflare-quic-with-secrets.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	h := New()
	found := false
	for !found {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		u, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if u == nil || u.DstPort != 443 || h.Detect(u.Payload, app.UDP) != app.Yes {
			continue
		}
		res := h.Serve(&app.Conn{Transport: app.UDP}, u.Payload)
		if len(res.Reply) != 0 {
			t.Errorf("a reply to a QUIC Initial")
		}
		for _, fl := range res.Fields {
			if fl.Key == "ja4" {
				found = true
				if fl.Value != "q13d0310h3_55b375c5d22e_cd85d2d88918" {
					t.Errorf("ja4 %v", fl.Value)
				}
			}
		}
	}
	if !found {
		t.Fatal("no QUIC Initial recognised in the capture")
	}
	// small or short-header datagrams are not QUIC Initials
	if h.Detect(make([]byte, 100), app.UDP) != app.No || h.Detect(make([]byte, 1300), app.UDP) != app.No {
		t.Errorf("detected garbage")
	}
}
