package stack

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/masscanned-go/masscanned/internal/personality"
)

// FuzzHandle feeds whole frames to the stack: it must never panic, and
// every reply it produces must be a well-formed frame.
func FuzzHandle(f *testing.F) {
	e := newEnv(f, personality.Linux(), withLineApp)
	for _, fr := range hotPaths(f, e) {
		f.Add(fr, false)
	}
	f.Add(tcpFrame(f, true, personality.PSH|personality.ACK, 1, 2, "PING x\n", nil), true)
	f.Add(vlanTag(echo4(f, nil), 3), false)
	f.Fuzz(func(t *testing.T, frame []byte, notReady bool) {
		for _, p := range []*personality.Personality{personality.Linux(), personality.Masscanned()} {
			e := newEnv(t, p, withLineApp)
			var tx Tx
			e.ev.Reset()
			e.st.Handle(frame, Meta{Time: testTime, ChecksumNotReady: notReady}, &tx, &e.ev)
			for i := 0; i < tx.Len(); i++ {
				if len(tx.Frame(i)) < 14 {
					t.Fatalf("reply %d shorter than an Ethernet header", i)
				}
			}
			if e.ev.Verdict == 1 && tx.Len() == 0 {
				t.Fatalf("answered without a reply")
			}
		}
	})
}

// TestWriteSeedCorpus writes the seeds above into testdata/fuzz when
// MASSCANNED_WRITE_CORPUS=1, so that the committed corpus follows them.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("MASSCANNED_WRITE_CORPUS") == "" {
		t.Skip("set MASSCANNED_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	e := newEnv(t, personality.Linux(), withLineApp)
	dir := filepath.Join("testdata", "fuzz", "FuzzHandle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := hotPaths(t, e)
	seeds["PSHv6"] = tcpFrame(t, true, personality.PSH|personality.ACK, 1, 2, "PING x\n", nil)
	seeds["VLAN"] = vlanTag(echo4(t, nil), 3)
	seeds["NS"] = nsFrame(t, cliIP6, net.ParseIP("ff02::1:ff00:1"), ourIP6, 255, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}, true)
	for name, fr := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(false)\n", fr)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
