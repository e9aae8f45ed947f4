package stack

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// The SYN queue's table agrees with a Go map under random adds, lookups,
// takes and removals (with many colliding probe sequences: a small table
// kept nearly full), never holds more than max entries, and its index
// stays consistent: every entry is reachable from its home slot.
func TestSynQueueMatchesMap(t *testing.T) {
	for _, max := range []int{1, 3, 64, 1000} {
		q := newSynQueue(max, [16]byte{7})
		ref := map[connKey]uint32{}
		r := rand.New(rand.NewPCG(1, uint64(max)))
		key := func() connKey {
			// few distinct keys, so that operations hit existing ones
			n := r.IntN(3 * max)
			c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(n % 7)}), uint16(1024+n))
			if n%5 == 0 {
				c = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), uint16(n))
			}
			return connKey{client: c, server: netip.MustParseAddrPort("192.0.2.1:80")}
		}
		for op := range 20000 {
			k := key()
			switch r.IntN(4) {
			case 0, 1:
				isn := uint32(op)
				q.add(k, pending{isn: isn, expires: time.Unix(100, 0)})
				if _, ok := ref[k]; ok || len(ref) < max {
					ref[k] = isn
				}
			case 2:
				p := q.take(k)
				want, ok := ref[k]
				if p.used != ok || (ok && p.isn != want) {
					t.Fatalf("max %d op %d: take %v = %v %d, want %v %d", max, op, k, p.used, p.isn, ok, want)
				}
				delete(ref, k)
			case 3:
				q.remove(k)
				delete(ref, k)
			}
			isn, live := q.isn(k, time.Unix(0, 0))
			want, ok := ref[k]
			if live != ok || (ok && isn != want) {
				t.Fatalf("max %d op %d: isn %v = %d %v, want %d %v", max, op, k, isn, live, want, ok)
			}
			if q.len() != len(ref) || q.len() > max {
				t.Fatalf("max %d op %d: %d entries, want %d", max, op, q.len(), len(ref))
			}
		}
		used := 0
		for pos, v := range q.idx {
			if v == 0 {
				continue
			}
			used++
			p := &q.slab[v-1]
			if !p.used {
				t.Fatalf("max %d: slot %d points at a free slab entry", max, pos)
			}
			// no empty slot between the entry's home and its slot
			for h := p.hash & q.mask; h != uint32(pos); h = (h + 1) & q.mask {
				if q.idx[h] == 0 {
					t.Fatalf("max %d: a hole at %d before the entry at %d", max, h, pos)
				}
			}
		}
		if used != len(ref) {
			t.Fatalf("max %d: %d index slots used for %d entries", max, used, len(ref))
		}
	}
}

// With --max-half-open 0 (max < 0 here) nothing is remembered.
func TestSynQueueDisabled(t *testing.T) {
	q := newSynQueue(-1, [16]byte{})
	k := connKey{client: netip.MustParseAddrPort("198.51.100.1:1024"), server: netip.MustParseAddrPort("192.0.2.1:80")}
	q.add(k, pending{isn: 1, expires: time.Unix(100, 0)})
	if _, ok := q.isn(k, time.Unix(0, 0)); ok || q.len() != 0 || q.take(k).used {
		t.Fatal("a disabled queue remembered a handshake")
	}
}

// The hash depends on the key: two stacks keyed differently spread the
// same 4-tuples differently.
func TestSynQueueKeyedHash(t *testing.T) {
	a, b := newSynQueue(16, [16]byte{1}), newSynQueue(16, [16]byte{2})
	same := 0
	for p := range 1000 {
		k := connKey{client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 1}), uint16(p)), server: netip.MustParseAddrPort("192.0.2.1:80")}
		if a.hash(&k) == b.hash(&k) {
			same++
		}
	}
	if same > 1 {
		t.Fatalf("%d of 1000 hashes equal under two keys", same)
	}
}

func BenchmarkSynQueueLookupFull(b *testing.B) {
	q := newSynQueue(DefaultMaxPending, [16]byte{3})
	server := netip.MustParseAddrPort("192.0.2.1:80")
	for p := range DefaultMaxPending {
		q.add(connKey{client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(p)}), uint16(p)), server: server}, pending{})
	}
	k := connKey{client: netip.MustParseAddrPort("203.0.113.9:4242"), server: server}
	b.ReportAllocs()
	for b.Loop() {
		q.add(k, pending{})
	}
}
