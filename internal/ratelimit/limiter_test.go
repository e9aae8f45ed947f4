package ratelimit

import (
	"math"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.Unix(1_700_000_000, 0)

func mustNew(t testing.TB, cfg Config) *Limiter {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// flood sends n replies from src spread evenly over d and returns how many
// were allowed.
func flood(l *Limiter, src netip.Addr, class Class, size int, start time.Time, d time.Duration, n int) int {
	allowed := 0
	step := d / time.Duration(n)
	for i := 0; i < n; i++ {
		if l.Allow(src, class, size, start.Add(time.Duration(i)*step)) {
			allowed++
		}
	}
	return allowed
}

func within(got, want, tolPct float64) bool {
	return math.Abs(got-want) <= want*tolPct/100+1
}

func TestNilLimiterAllowsEverything(t *testing.T) {
	var l *Limiter
	for i := 0; i < 1000; i++ {
		if !l.Allow(netip.MustParseAddr("192.0.2.1"), SYNACK, 60, t0) {
			t.Fatal("nil limiter refused")
		}
	}
	if s := l.Stats(); s.Total() != 0 {
		t.Fatalf("nil stats: %+v", s)
	}
}

func TestUnderBudgetAlwaysAllowed(t *testing.T) {
	def := DefaultConfig()
	tests := []struct {
		name  string
		src   string
		class Class
		size  int
		pps   int // replies per second, for 10 s
	}{
		{"synack vertical scan 10k pps (nmap -T5, masscan)", "192.0.2.10", SYNACK, 60, 10000},
		{"synack vertical scan 10k pps over IPv6", "2001:db8::10", SYNACK, 80, 10000},
		{"synack at 19k pps", "198.51.100.7", SYNACK, 60, 19000},
		{"ping 100/s", "203.0.113.9", ICMP, 98, 100},
		{"ping 900/s", "203.0.113.9", ICMP, 98, 900},
		{"ping6 900/s", "2001:db8:1::9", ICMP, 118, 900},
		{"udp 400 replies/s of 150 B", "192.0.2.44", UDPBytes, 150, 400},
		{"udp 40 replies/s of 1400 B", "2001:db8:2::44", UDPBytes, 1400, 40},
		{"mapped IPv4 synack 10k pps", "::ffff:192.0.2.77", SYNACK, 60, 10000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := mustNew(t, def)
			n := tc.pps * 10
			got := flood(l, netip.MustParseAddr(tc.src), tc.class, tc.size, t0, 10*time.Second, n)
			if got != n {
				t.Fatalf("allowed %d of %d", got, n)
			}
			if s := l.Stats(); s.Total() != 0 {
				t.Fatalf("suppressed: %+v", s)
			}
		})
	}
}

func TestOrdinaryClientBurst(t *testing.T) {
	// A few hundred UDP replies at once (a client retrying, a UDP scan of
	// a few hundred ports) are answered in full.
	l := mustNew(t, DefaultConfig())
	src := netip.MustParseAddr("192.0.2.5")
	for i := 0; i < 500; i++ {
		if !l.Allow(src, UDPBytes, 512, t0) {
			t.Fatalf("reply %d refused", i)
		}
	}
	// ping -f: the first 2000 echo replies come back immediately.
	for i := 0; i < 2000; i++ {
		if !l.Allow(src, ICMP, 98, t0) {
			t.Fatalf("echo reply %d refused", i)
		}
	}
}

func TestFloodIsCutToBudget(t *testing.T) {
	def := DefaultConfig()
	const secs = 10
	const pps = 100000
	tests := []struct {
		name  string
		src   string
		class Class
		size  int
		rate  Rate // the bucket expected to bind
		scope Scope
	}{
		{"synack /32", "192.0.2.1", SYNACK, 60, def.SYNACK.PerIPv4Host, ScopeHost},
		{"icmp /32", "192.0.2.1", ICMP, 98, def.ICMP.PerIPv4Host, ScopeHost},
		{"udp bytes /32", "192.0.2.1", UDPBytes, 100, def.UDPBytes.PerIPv4Host, ScopeHost},
		{"synack /64", "2001:db8::1", SYNACK, 80, def.SYNACK.PerIPv6Host, ScopeHost},
		{"icmp /64", "2001:db8::1", ICMP, 118, def.ICMP.PerIPv6Host, ScopeHost},
		{"udp bytes /64", "2001:db8::1", UDPBytes, 300, def.UDPBytes.PerIPv6Host, ScopeHost},
		{"mapped udp bytes /32", "::ffff:198.51.100.3", UDPBytes, 100, def.UDPBytes.PerIPv4Host, ScopeHost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := mustNew(t, def)
			got := flood(l, netip.MustParseAddr(tc.src), tc.class, tc.size, t0, secs*time.Second, pps*secs)
			units := 1.0
			if tc.class == UDPBytes {
				units = float64(tc.size)
			}
			want := (tc.rate.PerSecond*secs + tc.rate.Burst) / units
			if !within(float64(got), want, 1) {
				t.Fatalf("allowed %d, want ~%.0f (rate %v/s * %d s + burst %v)", got, want, tc.rate.PerSecond, secs, tc.rate.Burst)
			}
			st := l.Stats().Class(tc.class)
			if st.Suppressed != uint64(pps*secs-got) {
				t.Fatalf("suppressed %d, want %d", st.Suppressed, pps*secs-got)
			}
			if tc.class == UDPBytes && st.SuppressedUnits != st.Suppressed*uint64(tc.size) {
				t.Fatalf("suppressed bytes %d for %d replies", st.SuppressedUnits, st.Suppressed)
			}
			if s := refusedBy(l, netip.MustParseAddr(tc.src), tc.class, tc.size, t0.Add(secs*time.Second)); s != tc.scope {
				t.Fatalf("refused by %v, want %v", s, tc.scope)
			}
		})
	}
}

func TestMappedIPv4SharesBucket(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ICMP.PerIPv4Host = Rate{1, 10}
	l := mustNew(t, cfg)
	v4 := netip.MustParseAddr("192.0.2.8")
	mapped := netip.MustParseAddr("::ffff:192.0.2.8")
	n := 0
	for i := 0; i < 10; i++ {
		for _, a := range []netip.Addr{v4, mapped} {
			if l.Allow(a, ICMP, 0, t0) {
				n++
			}
		}
	}
	if n != 10 {
		t.Fatalf("allowed %d, want 10 (one shared bucket)", n)
	}
}

func TestPrefixAggregation(t *testing.T) {
	def := DefaultConfig()
	const secs = 10
	tests := []struct {
		name    string
		class   Class
		size    int
		sources []netip.Addr
		perSrc  int // replies per second per source
		rate    Rate
	}{
		{
			name:    "256 /32s in one IPv4 /24 (synack)",
			class:   SYNACK,
			size:    60,
			sources: ipv4Hosts("198.51.100.0", 256),
			perSrc:  1000, // each far under its own /32 budget
			rate:    def.SYNACK.PerIPv4Net,
		},
		{
			name:    "256 /32s in one IPv4 /24 (udp)",
			class:   UDPBytes,
			size:    200,
			sources: ipv4Hosts("198.51.100.0", 256),
			perSrc:  50,
			rate:    def.UDPBytes.PerIPv4Net,
		},
		{
			name:    "many addresses of one IPv6 /64 (icmp)",
			class:   ICMP,
			size:    118,
			sources: ipv6Hosts("2001:db8:1:2::", 64, 0),
			perSrc:  500,
			rate:    def.ICMP.PerIPv6Host,
		},
		{
			name:    "256 /64s in one IPv6 /48 (synack)",
			class:   SYNACK,
			size:    80,
			sources: ipv6Hosts("2001:db8:7::", 256, 64),
			perSrc:  1000,
			rate:    def.SYNACK.PerIPv6Net,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := mustNew(t, def)
			total := tc.perSrc * secs * len(tc.sources)
			step := time.Duration(secs) * time.Second / time.Duration(total)
			got := 0
			for i := 0; i < total; i++ {
				if l.Allow(tc.sources[i%len(tc.sources)], tc.class, tc.size, t0.Add(time.Duration(i)*step)) {
					got++
				}
			}
			units := 1.0
			if tc.class == UDPBytes {
				units = float64(tc.size)
			}
			want := (tc.rate.PerSecond*secs + tc.rate.Burst) / units
			if !within(float64(got), want, 1) {
				t.Fatalf("allowed %d of %d, want ~%.0f", got, total, want)
			}
		})
	}
}

func TestDifferentPrefixesAreIndependent(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SYNACK.PerIPv4Host = Rate{1, 5}
	cfg.SYNACK.PerIPv6Host = Rate{1, 5}
	l := mustNew(t, cfg)
	for _, s := range []string{"192.0.2.1", "192.0.2.2", "198.51.100.1", "2001:db8::1", "2001:db8:0:1::1", "2001:db8:1::1"} {
		a := netip.MustParseAddr(s)
		if got := flood(l, a, SYNACK, 60, t0, time.Millisecond, 10); got != 5 {
			t.Errorf("%s: allowed %d, want 5", s, got)
		}
	}
	// Same /64, different interface identifier: shares the bucket.
	if l.Allow(netip.MustParseAddr("2001:db8::ffff"), SYNACK, 60, t0) {
		t.Error("2001:db8::ffff did not share 2001:db8::/64's bucket")
	}
}

func TestGlobalCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ICMP.Global = Rate{2000, 4000}
	l := mustNew(t, cfg)
	// 1000 sources in 1000 different /24s and /48s, each at 100 pps (far
	// under their own budgets): 100k pps in all for 10 s.
	srcs := append(ipv4Nets(500), ipv6Nets(500)...)
	const secs = 10
	total := 100 * secs * len(srcs)
	step := time.Duration(secs) * time.Second / time.Duration(total)
	got := 0
	for i := 0; i < total; i++ {
		if l.Allow(srcs[i%len(srcs)], ICMP, 98, t0.Add(time.Duration(i)*step)) {
			got++
		}
	}
	want := 2000.0*secs + 4000
	if !within(float64(got), want, 1) {
		t.Fatalf("allowed %d, want ~%.0f", got, want)
	}
	if s := refusedBy(l, srcs[0], ICMP, 98, t0.Add(secs*time.Second)); s != ScopeGlobal {
		t.Fatalf("refused by %v, want global", s)
	}
	// Other classes have their own global bucket.
	if !l.Allow(srcs[0], SYNACK, 60, t0.Add(secs*time.Second)) {
		t.Fatal("synack refused by the icmp global cap")
	}
}

func TestRefusalChargesNothing(t *testing.T) {
	t.Run("net refuses, host not charged", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.SYNACK.PerIPv4Host = Rate{1, 10}
		cfg.SYNACK.PerIPv4Net = Rate{1000, 5}
		l := mustNew(t, cfg)
		a := netip.MustParseAddr("192.0.2.1")
		if got := flood(l, a, SYNACK, 0, t0, 0+1, 5); got != 5 {
			t.Fatalf("first 5: allowed %d", got)
		}
		for i := 0; i < 100; i++ {
			if s := l.Check(a, SYNACK, 0, t0); s != ScopeNet {
				t.Fatalf("refused by %v, want net", s)
			}
		}
		// 5 ms later the /24 has refilled; the /32 still has its 5 tokens.
		if got := flood(l, a, SYNACK, 0, t0.Add(5*time.Millisecond), 1, 10); got != 5 {
			t.Fatalf("after refill: allowed %d, want 5", got)
		}
	})
	t.Run("global refuses, prefixes not charged", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.UDPBytes.PerIPv6Host = Rate{1, 1000}
		cfg.UDPBytes.PerIPv6Net = Rate{1, 1000}
		cfg.UDPBytes.Global = Rate{100000, 500}
		l := mustNew(t, cfg)
		a := netip.MustParseAddr("2001:db8::1")
		if got := flood(l, a, UDPBytes, 100, t0, 1, 10); got != 5 {
			t.Fatalf("allowed %d, want 5", got)
		}
		at := t0.Add(5 * time.Millisecond) // global refilled
		if got := flood(l, a, UDPBytes, 100, at, 1, 10); got != 5 {
			t.Fatalf("after refill: allowed %d, want 5 (host/net charged by refusals?)", got)
		}
	})
}

func TestReplyLargerThanBurstRefused(t *testing.T) {
	cfg := DefaultConfig()
	cfg.UDPBytes.PerIPv4Host = Rate{1000, 1500}
	l := mustNew(t, cfg)
	a := netip.MustParseAddr("192.0.2.1")
	if s := l.Check(a, UDPBytes, 1501, t0); s != ScopeHost {
		t.Fatalf("got %v", s)
	}
	if !l.Allow(a, UDPBytes, 1500, t0) {
		t.Fatal("reply of exactly the burst refused")
	}
	if l.Allow(a, UDPBytes, 1<<62, t0.Add(time.Hour)) {
		t.Fatal("huge reply allowed")
	}
}

func TestDisabledBuckets(t *testing.T) {
	cfg := Config{} // every rate 0: nothing is limited
	l := mustNew(t, cfg)
	if got := flood(l, netip.MustParseAddr("192.0.2.1"), SYNACK, 60, t0, time.Millisecond, 100000); got != 100000 {
		t.Fatalf("allowed %d", got)
	}
	if l.Config().TableSize != DefaultConfig().TableSize {
		t.Fatalf("table size %d", l.Config().TableSize)
	}
}

func TestClockGoingBackwards(t *testing.T) {
	l := mustNew(t, DefaultConfig())
	a := netip.MustParseAddr("192.0.2.1")
	flood(l, a, ICMP, 98, t0, time.Second, 100000)
	back := t0.Add(-time.Hour)
	// Each bucket is treated as empty when first seen after the jump, not
	// as empty for an hour: it refills within its burst time (2 s for the
	// /32, 2 s for the /24, 2 s for the global bucket; they are seen one
	// after the other).
	for i := 0; i < 4; i++ {
		flood(l, a, ICMP, 98, back.Add(time.Duration(i)*3*time.Second), time.Millisecond, 100)
	}
	if got := flood(l, a, ICMP, 98, back.Add(12*time.Second), time.Millisecond, 100); got != 100 {
		t.Fatalf("allowed %d of 100 after the clock went back", got)
	}
}

func TestZeroAddr(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SYNACK.Global = Rate{1, 3}
	l := mustNew(t, cfg)
	if got := flood(l, netip.Addr{}, SYNACK, 60, t0, 1, 10); got != 3 {
		t.Fatalf("allowed %d, want 3 (global only)", got)
	}
}

func TestUnknownClassRefused(t *testing.T) {
	l := mustNew(t, DefaultConfig())
	if l.Allow(netip.MustParseAddr("192.0.2.1"), Class(99), 1, t0) {
		t.Fatal("unknown class allowed")
	}
	if Class(99).String() != "class(99)" || SYNACK.String() != "synack" || ScopeNet.String() != "net" {
		t.Fatal("names")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"zero", func(c *Config) { *c = Config{} }, true},
		{"negative rate", func(c *Config) { c.ICMP.PerIPv4Host.PerSecond = -1 }, false},
		{"negative burst", func(c *Config) { c.UDPBytes.Global.Burst = -1 }, false},
		{"NaN", func(c *Config) { c.SYNACK.PerIPv6Net.PerSecond = math.NaN() }, false},
		{"Inf", func(c *Config) { c.SYNACK.PerIPv6Host.Burst = math.Inf(1) }, false},
		{"negative table", func(c *Config) { c.TableSize = -1 }, false},
		{"huge table", func(c *Config) { c.TableSize = 1 << 30 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v", err)
			}
			if _, err2 := New(c); (err2 == nil) != tc.ok {
				t.Fatalf("New err = %v", err2)
			}
		})
	}
}

func TestTableSizeRounding(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{1, 64}, {64, 64}, {65, 128}, {1000, 1024}} {
		c := DefaultConfig()
		c.TableSize = tc.in
		l := mustNew(t, c)
		if got := l.Config().TableSize; got != tc.want || len(l.v4host.entries) != tc.want {
			t.Errorf("TableSize %d: got %d", tc.in, got)
		}
	}
}

func TestEvictionKeepsMemoryFixed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TableSize = 4096
	l := mustNew(t, cfg)
	victim := netip.MustParseAddr("203.0.113.77")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 1_000_000
	victimAllowed := 0
	// A million distinct spoofed sources (all over IPv4 and IPv6) at 1M pps,
	// interleaved with a flood toward one victim at 100k pps.
	for i := 0; i < n; i++ {
		at := t0.Add(time.Duration(i) * time.Microsecond)
		var a netip.Addr
		if i%2 == 0 {
			a = netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		} else {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 8: 1})
		}
		l.Allow(a, SYNACK, 60, at)
		if i%10 == 0 && l.Allow(victim, SYNACK, 60, at) {
			victimAllowed++
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 256<<10 {
		t.Fatalf("heap grew by %d bytes", grown)
	}
	for _, tb := range []*table{&l.v4host, &l.v4net, &l.v6host, &l.v6net} {
		if len(tb.entries) != 4096 {
			t.Fatalf("table has %d entries", len(tb.entries))
		}
	}
	st := l.Stats()
	if st.Evictions < n/2 {
		t.Fatalf("only %d evictions", st.Evictions)
	}
	// The victim was touched on every one of its packets and stayed
	// resident: it got its budget (1 s of flood: rate*1 + burst), not more.
	want := cfg.SYNACK.PerIPv4Host.PerSecond*1 + cfg.SYNACK.PerIPv4Host.Burst
	if !within(float64(victimAllowed), want, 2) {
		t.Fatalf("victim allowed %d, want ~%.0f", victimAllowed, want)
	}
	t.Logf("evictions %d, victim allowed %d of %d", st.Evictions, victimAllowed, n/10)
}

func TestZeroAllocs(t *testing.T) {
	l := mustNew(t, DefaultConfig())
	srcs := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("::ffff:198.51.100.1"),
	}
	i := 0
	for _, c := range []Class{UDPBytes, ICMP, SYNACK} {
		allocs := testing.AllocsPerRun(1000, func() {
			i++
			l.Allow(srcs[i%len(srcs)], c, 100, t0.Add(time.Duration(i)))
			l.Check(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), c, 100, t0)
		})
		if allocs != 0 {
			t.Fatalf("%v: %v allocs per Allow", c, allocs)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SYNACK.PerIPv4Host = Rate{1000, 5000}
	cfg.ICMP.Global = Rate{1000, 3000}
	l := mustNew(t, cfg)
	shared := netip.MustParseAddr("192.0.2.1")
	workers := 8
	const per = 20000
	var sharedAllowed, icmpAllowed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				// The clock is frozen, so exactly the burst can be allowed.
				if l.Allow(shared, SYNACK, 60, t0) {
					sharedAllowed.Add(1)
				}
				own := netip.AddrFrom4([4]byte{198, 51, byte(w), byte(i)})
				if l.Allow(own, ICMP, 98, t0) {
					icmpAllowed.Add(1)
				}
				l.Allow(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(w), byte(i >> 8), byte(i)}), UDPBytes, 200, t0.Add(time.Duration(i)*time.Millisecond))
				if i%1000 == 0 {
					_ = l.Stats()
				}
			}
		}(w)
	}
	wg.Wait()
	if got := sharedAllowed.Load(); got != 5000 {
		t.Fatalf("shared source allowed %d, want exactly the burst 5000", got)
	}
	if got := icmpAllowed.Load(); got != 3000 {
		t.Fatalf("icmp allowed %d, want exactly the global burst 3000", got)
	}
	st := l.Stats()
	if st.SYNACK.Suppressed != uint64(workers*per-5000) {
		t.Fatalf("suppressed %d", st.SYNACK.Suppressed)
	}
}

func BenchmarkAllow(b *testing.B) {
	b.Run("one-source", func(b *testing.B) {
		l := mustNew(b, DefaultConfig())
		a := netip.MustParseAddr("192.0.2.1")
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			l.Allow(a, SYNACK, 60, t0.Add(time.Duration(i)*time.Microsecond))
		}
	})
	b.Run("random-sources", func(b *testing.B) {
		l := mustNew(b, DefaultConfig())
		b.ReportAllocs()
		x := uint32(1)
		for i := 0; b.Loop(); i++ {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			a := netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
			l.Allow(a, UDPBytes, 200, t0.Add(time.Duration(i)*time.Microsecond))
		}
	})
	b.Run("ipv6", func(b *testing.B) {
		l := mustNew(b, DefaultConfig())
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i), 15: 1})
			l.Allow(a, ICMP, 100, t0.Add(time.Duration(i)*time.Microsecond))
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := mustNew(b, DefaultConfig())
		b.ReportAllocs()
		var seq atomic.Uint32
		b.RunParallel(func(pb *testing.PB) {
			x := seq.Add(1) * 2654435761
			i := 0
			for pb.Next() {
				i++
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				a := netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
				l.Allow(a, SYNACK, 60, t0.Add(time.Duration(i)*time.Microsecond))
			}
		})
	})
}

// refusedBy calls Check until it refuses (the bucket may have refilled a
// token since the last call) and returns the refusing scope.
func refusedBy(l *Limiter, a netip.Addr, c Class, size int, at time.Time) Scope {
	for i := 0; i < 100; i++ {
		if s := l.Check(a, c, size, at); s != Allowed {
			return s
		}
	}
	return Allowed
}

func ipv4Hosts(base string, n int) []netip.Addr {
	a := netip.MustParseAddr(base)
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = a
		a = a.Next()
	}
	return out
}

// ipv6Hosts returns n addresses under base; with bit 64 they differ in the
// 4th 16-bit group (different /64s in one /48), otherwise in the
// interface identifier (one /64).
func ipv6Hosts(base string, n int, bit int) []netip.Addr {
	b := netip.MustParseAddr(base).As16()
	out := make([]netip.Addr, n)
	for i := range out {
		x := b
		if bit == 64 {
			x[6], x[7] = byte(i>>8), byte(i)
			x[15] = 1
		} else {
			x[14], x[15] = byte(i>>8), byte(i)
			x[8] = 0xaa
		}
		out[i] = netip.AddrFrom16(x)
	}
	return out
}

// ipv4Nets returns one address in each of n different /24s.
func ipv4Nets(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
	}
	return out
}

// ipv6Nets returns one address in each of n different /48s.
func ipv6Nets(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i), 15: 1})
	}
	return out
}

func TestEntrySize(t *testing.T) {
	// Config.TableSize documents the memory use from this size.
	if s := unsafe.Sizeof(entry{}); s != 40 {
		t.Fatalf("entry is %d bytes; update the TableSize documentation", s)
	}
}
