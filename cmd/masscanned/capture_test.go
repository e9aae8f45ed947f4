package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ngPacket is a --capture packet read back.
type ngPacket struct {
	data    []byte
	ts      time.Time
	comment string
	dir     pcapgo.NgEpbFlag
}

func readNg(t testing.TB, path string) []ngPacket {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var out []ngPacket
	for {
		d, ci, opts, err := r.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p := ngPacket{data: d, ts: ci.Timestamp}
		if len(opts.Comments) == 1 {
			p.comment = opts.Comments[0]
		}
		if opts.Flags != nil {
			p.dir = opts.Flags.Direction
		}
		out = append(out, p)
	}
}

// TestReplayCapture: the replay with --capture beside --write-pcap: the
// replies file is unchanged (the golden one), and the capture holds each
// frame of the input (same bytes, same nanosecond time) followed by its
// replies (those of --write-pcap, in order), each commented with its
// event.
func TestReplayCapture(t *testing.T) {
	in := filepath.Join("testdata", "replay.pcap")
	frames, _ := replayFrames(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "replies.pcap")
	var stdout, stderr bytes.Buffer
	code := run([]string{"--read-pcap", in, "--write-pcap", out, "--capture", filepath.Join(dir, "cap.pcapng"), "--format", "json",
		"-m", rpOurMAC.String(), "--self-ip-list", "198.51.100.2,2001:db8:100::2", "--cookie-key-file", key, "--personality", "masscanned"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	replies := readPcap(t, out)
	if golden := readPcap(t, filepath.Join("testdata", "replay-masscanned.pcap")); len(golden) != len(replies) {
		t.Fatalf("--write-pcap: %d replies, golden %d", len(replies), len(golden))
	} else {
		for i := range golden {
			if !bytes.Equal(golden[i], replies[i]) {
				t.Errorf("--write-pcap reply %d differs from the golden file", i)
			}
		}
	}
	var inTimes []time.Time
	{
		f, _ := os.Open(in)
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		for {
			_, ci, err := r.ReadPacketData()
			if err != nil {
				break
			}
			inTimes = append(inTimes, ci.Timestamp)
		}
		f.Close()
	}
	pkts := readNg(t, filepath.Join(dir, "cap-000001.pcapng"))
	if len(pkts) != len(frames)+len(replies) {
		t.Fatalf("%d packets, want %d frames + %d replies", len(pkts), len(frames), len(replies))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	fi, ri := 0, 0
	var comment string
	for i, p := range pkts {
		switch p.dir {
		case pcapgo.NgEpbFlagDirectionInbound:
			var ev map[string]any
			if err := json.Unmarshal([]byte(lines[fi]), &ev); err != nil {
				t.Fatal(err)
			}
			comment = fmt.Sprint(ev["verdict"])
			if r, ok := ev["reason"].(string); ok {
				comment += " reason=" + r
			}
			if r, ok := ev["reply"].(string); ok {
				comment += " reply=" + r
			}
			if !bytes.Equal(p.data, frames[fi]) || !p.ts.Equal(inTimes[fi]) {
				t.Errorf("packet %d: not frame %d of the input", i, fi)
			}
			fi++
		case pcapgo.NgEpbFlagDirectionOutbound:
			if ri >= len(replies) || !bytes.Equal(p.data, replies[ri]) || !p.ts.Equal(inTimes[fi-1]) {
				t.Errorf("packet %d: not reply %d, at its frame's time", i, ri)
			}
			ri++
		default:
			t.Errorf("packet %d: no direction", i)
		}
		if !strings.HasPrefix(p.comment, comment) {
			t.Errorf("packet %d: comment %q, want %q...", i, p.comment, comment)
		}
	}
}

// benchCapture is a capture of n SYNs from distinct ports.
func benchCapture(b *testing.B, n int) string {
	path := filepath.Join(b.TempDir(), "syn.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		b.Fatal(err)
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	start := time.Unix(1764072000, 0)
	for i := range n {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{198, 51, 100, byte(1 + i%200)}, DstIP: rpOur4}
		tc := &layers.TCP{SrcPort: layers.TCPPort(1024 + i%60000), DstPort: layers.TCPPort(1 + i%1000), Seq: uint32(i), SYN: true, Window: 1024}
		_ = tc.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, opts, &layers.Ethernet{SrcMAC: rpCliMAC, DstMAC: rpOurMAC, EthernetType: layers.EthernetTypeIPv4}, ip, tc); err != nil {
			b.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Microsecond), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
	return path
}

// BenchmarkReplay runs the whole run loop (read a capture of SYNs, answer,
// events to a JSON sink on a discarded stdout) per frame: without outputs,
// with --capture (whose writer runs in its own goroutine), and with every
// output a file or a port takes at once (--capture, --ivre, --metrics,
// --p0f-db when Debian's database is there; --nats needs a broker and is
// measured in internal/fleet).
func BenchmarkReplay(b *testing.B) {
	const n = 50000
	in := benchCapture(b, n)
	for _, outputs := range []string{"none", "capture", "all"} {
		capture := outputs != "none"
		b.Run("outputs="+outputs, func(b *testing.B) {
			dir := b.TempDir()
			for i := 0; b.Loop(); i++ {
				args := []string{"--read-pcap", in, "--format", "json", "-m", rpOurMAC.String(), "--self-ip-list", "198.51.100.2",
					"--no-rate-limit", "--max-half-open", "0", "--personality", "masscanned"}
				if capture {
					args = append(args, "--capture", filepath.Join(dir, fmt.Sprintf("c%d.pcapng", i)), "--capture-queue", "65536")
				}
				if outputs == "all" {
					args = append(args, "--ivre", filepath.Join(dir, fmt.Sprintf("i%d.json", i)), "--metrics", "127.0.0.1:0")
					if _, err := os.Stat("/etc/p0f/p0f.fp"); err == nil {
						args = append(args, "--p0f-db", "/etc/p0f/p0f.fp")
					}
				}
				var stderr bytes.Buffer
				if code := run(args, io.Discard, &stderr); code != 0 {
					b.Fatalf("exit %d: %s", code, stderr.String())
				}
				if capture && !strings.Contains(stderr.String(), "capture_dropped=0") {
					b.Logf("%s", stderr.String())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
		})
	}
}
