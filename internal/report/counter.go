package report

import (
	"cmp"
	"slices"
)

// entry is one key's tally.
type entry struct {
	Key         string
	N           uint64    // occurrences
	First, Last int64     // earliest and latest time seen (Unix ns)
	X           [3]uint64 // table-specific counts (SYNs, successes, ...)
	Info        []string  // table-specific text kept from the first occurrence
}

// counter counts occurrences of keys in bounded memory: it keeps at most
// max distinct keys. When a new key arrives and the table is full, the
// half with the lowest counts (the least recently seen among equals) is
// pruned; what the pruned keys had counted is kept in PrunedN, so that
// the listed counts plus PrunedN always equal Total. A key pruned and seen
// again starts over: after a prune, listed counts are lower bounds.
type counter struct {
	max     int
	m       map[string]*entry
	Total   uint64 // every occurrence added
	PrunedN uint64 // occurrences of pruned keys
	Pruned  uint64 // keys pruned (a key pruned twice counts twice)
}

func newCounter(max int) *counter {
	if max < 2 {
		max = 2
	}
	return &counter{max: max, m: make(map[string]*entry)}
}

// add counts one occurrence of key at t (Unix ns) and returns its entry;
// isNew reports whether the key was not in the table.
func (c *counter) add(key string, t int64) (e *entry, isNew bool) {
	c.Total++
	e = c.m[key]
	if e == nil {
		if len(c.m) >= c.max {
			c.prune()
		}
		e = &entry{Key: key, First: t, Last: t}
		c.m[key] = e
		isNew = true
	}
	e.N++
	if t < e.First {
		e.First = t
	}
	if t > e.Last {
		e.Last = t
	}
	return e, isNew
}

// prune removes the half of the keys with the lowest counts.
func (c *counter) prune() {
	all := make([]*entry, 0, len(c.m))
	for _, e := range c.m {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *entry) int {
		if r := cmp.Compare(a.N, b.N); r != 0 {
			return r
		}
		if r := cmp.Compare(a.Last, b.Last); r != 0 {
			return r
		}
		return cmp.Compare(a.Key, b.Key)
	})
	for _, e := range all[:len(all)/2] {
		c.PrunedN += e.N
		c.Pruned++
		delete(c.m, e.Key)
	}
}

// Len is the number of keys kept.
func (c *counter) Len() int { return len(c.m) }

// Exact reports whether nothing was ever pruned: every count is exact and
// Len is the number of distinct keys.
func (c *counter) Exact() bool { return c.Pruned == 0 }

// Top returns up to n entries (all when n <= 0), by count descending,
// then key.
func (c *counter) Top(n int) []*entry {
	all := make([]*entry, 0, len(c.m))
	for _, e := range c.m {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *entry) int {
		if r := cmp.Compare(b.N, a.N); r != 0 {
			return r
		}
		return cmp.Compare(a.Key, b.Key)
	})
	if n > 0 && len(all) > n {
		all = all[:n]
	}
	return all
}

// get returns key's entry (nil if not kept).
func (c *counter) get(key string) *entry { return c.m[key] }
