package main

import (
	"net/netip"
	"time"

	"github.com/spf13/pflag"

	"github.com/masscanned-go/masscanned/internal/ratelimit"
	"github.com/masscanned-go/masscanned/internal/stack"
)

// rateFlags are the anti-reflection budget flags: for each reply class a
// sustained rate per source host (/32, /64), per source network (/24,
// /48) and globally; bursts keep the default ratio to the rate.
type rateFlags struct {
	def   ratelimit.Config
	rates [3][3]*float64 // class x (host, net, global)
	table *int
}

func registerRateFlags(fs *pflag.FlagSet) *rateFlags {
	r := &rateFlags{def: ratelimit.DefaultConfig()}
	classes := []struct {
		c          ratelimit.Class
		name, unit string
	}{
		{ratelimit.SYNACK, "synack", "SYN-ACKs/s"},
		{ratelimit.ICMP, "icmp", "echo replies/s"},
		{ratelimit.UDPBytes, "udp-bytes", "UDP reply bytes/s"},
	}
	for i, c := range classes {
		l := r.def.Limits(c.c)
		r.rates[i][0] = fs.Float64("rate-"+c.name+"-host", l.PerIPv4Host.PerSecond, c.unit+" toward one source host (IPv4 /32, IPv6 /64)")
		r.rates[i][1] = fs.Float64("rate-"+c.name+"-net", l.PerIPv4Net.PerSecond, c.unit+" toward one source network (IPv4 /24, IPv6 /48)")
		r.rates[i][2] = fs.Float64("rate-"+c.name+"-global", l.Global.PerSecond, c.unit+" toward all sources together")
	}
	r.table = fs.Int("rate-table-size", r.def.TableSize, "entries of each per-prefix budget table (memory: 4 x 40 bytes x entries)")
	return r
}

func scale(def ratelimit.Rate, rate float64) ratelimit.Rate {
	if def.PerSecond == 0 {
		return ratelimit.Rate{PerSecond: rate, Burst: 2 * rate}
	}
	return ratelimit.Rate{PerSecond: rate, Burst: rate * def.Burst / def.PerSecond}
}

// build returns the budget (nil when limits are lifted).
func (r *rateFlags) build(off bool) (*budget, error) {
	if off {
		return nil, nil
	}
	cfg := r.def
	for i, c := range []ratelimit.Class{ratelimit.SYNACK, ratelimit.ICMP, ratelimit.UDPBytes} {
		l := cfg.Limits(c)
		d := *l
		l.PerIPv4Host = scale(d.PerIPv4Host, *r.rates[i][0])
		l.PerIPv6Host = scale(d.PerIPv6Host, *r.rates[i][0])
		l.PerIPv4Net = scale(d.PerIPv4Net, *r.rates[i][1])
		l.PerIPv6Net = scale(d.PerIPv6Net, *r.rates[i][1])
		l.Global = scale(d.Global, *r.rates[i][2])
	}
	cfg.TableSize = *r.table
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l, err := ratelimit.New(cfg)
	if err != nil {
		return nil, err
	}
	return &budget{l}, nil
}

// budget adapts a ratelimit.Limiter to the stack's Budget interface.
type budget struct{ l *ratelimit.Limiter }

var classOf = [...]ratelimit.Class{
	stack.BudgetUDPBytes: ratelimit.UDPBytes,
	stack.BudgetICMP:     ratelimit.ICMP,
	stack.BudgetSYNACK:   ratelimit.SYNACK,
}

func (b *budget) Allow(src netip.Addr, c stack.BudgetClass, n int, now time.Time) bool {
	return b.l.Allow(src, classOf[c], n, now)
}
