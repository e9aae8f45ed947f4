package e2e

import (
	"path/filepath"
	"sort"
	"sync"
	"testing"
)

// The closed ports of a profiled host against a real kernel's: the same
// probes (SYN, SYN with data, ACK, PSH+ACK with data, FIN, NULL, Xmas and
// RST to TCP port 81; UDP to port 81 with and without TOS / traffic class,
// small and larger than an ICMP error quotes; IP protocol / next header
// 132) go to the kernel of a namespace that owns the addresses and has no
// socket on port 81, and to masscanned --profile with a linux host whose
// only open ports are TCP 80 and UDP 53. e2e/scripts/diff_probe.py closed
// reduces every reset and ICMP error to its fields (IP TOS/traffic class,
// DF, ID policy, TTL/hop limit, flow label policy, lengths, TCP sequence
// and acknowledgment numbers, flags, window, options; ICMP type, code, the
// 4 bytes after the checksum and the quoted length); they must be equal.

// closedProfile is a host profile for the lab's addresses: linux, TCP 80
// and UDP 53 open, everything else closed.
const closedProfile = `[[host]]
name        = "lab"
addresses   = ["198.51.100.2", "2001:db8:100::2"]
personality = "linux"
tcp         = [80]
udp         = [53]
`

// profiledLab is a masscanned lab with a host profile (written into the
// lab's directory) and extra flags.
func profiledLab(t *testing.T, profile string, args ...string) *Lab {
	t.Helper()
	l := NewLab(t, LabOptions{})
	l.DropClientTCP()
	l.SilenceRespKernel()
	path := filepath.Join(l.Dir, "profile.toml")
	writeFile(t, path, profile)
	l.Start(append([]string{"--profile", path}, args...)...)
	return l
}

func TestKernelDiffClosed(t *testing.T) {
	Require(t, "nft", "ss")
	var kern, mc map[string][]any
	var mu sync.Mutex
	t.Run("probe", func(t *testing.T) {
		t.Run("kernel", func(t *testing.T) {
			t.Parallel()
			k := kernelLab(t)
			var r map[string][]any
			runProbe(t, k, k.RespIfMAC, "closed", &r)
			mu.Lock()
			kern = r
			mu.Unlock()
		})
		t.Run("masscanned", func(t *testing.T) {
			t.Parallel()
			m := profiledLab(t, closedProfile)
			var r map[string][]any
			runProbe(t, m, RespMAC, "closed", &r)
			if err := m.Stop(); err != nil {
				t.Fatalf("stop: %v\n%s", err, m.Stderr())
			}
			// the events say what was answered
			evs := m.Events()
			for _, r := range []string{"rst", "rst-ack", "port-unreachable", "protocol-unreachable"} {
				if len(find(evs, func(e Event) bool { return e.Str("reply") == r })) == 0 {
					t.Errorf("no %s event", r)
				}
			}
			mu.Lock()
			mc = r
			mu.Unlock()
		})
	})
	if kern == nil || mc == nil {
		t.Fatal("a probe run failed")
	}
	names := make([]string, 0, len(kern))
	for n := range kern {
		names = append(names, n)
	}
	for n := range mc {
		if _, ok := kern[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		kr, mr := kern[n], mc[n]
		if n == "unmatched" {
			t.Errorf("ICMP errors quoting no probe: kernel %v, masscanned %v", kr, mr)
			continue
		}
		if len(kr) == 0 && n[:3] != "rst" {
			t.Errorf("%s: the kernel did not answer", n)
		}
		if len(kr) != len(mr) {
			t.Errorf("%s: kernel %d replies, masscanned %d:\nkernel     %s\nmasscanned %s", n, len(kr), len(mr), js(kr), js(mr))
			continue
		}
		for i := range kr {
			kd, _ := kr[i].(map[string]any)
			md, _ := mr[i].(map[string]any)
			for _, f := range diffKeys(kd, md) {
				t.Errorf("%s: field %s: kernel %v, masscanned %v", n, f, js(kd[f]), js(md[f]))
			}
		}
		if len(kr) > 0 {
			t.Logf("%-12s %s", n, js(kr[0]))
		}
	}
}
