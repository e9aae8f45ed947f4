package report

// ladder is the bucket widths of the activity chart, in seconds: each a
// multiple of the one before, so that buckets merge exactly when the
// histogram coarsens.
var ladder = []int64{1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 7 * 86400, 28 * 86400, 364 * 86400}

// Verdict classes of the activity chart.
const (
	clsSend = iota
	clsRecv
	clsDrop
	clsOther
	nClasses
)

// histogram counts events per time bucket and verdict class in bounded
// memory: when it holds more than max buckets it moves to the next width
// of the ladder and merges them.
type histogram struct {
	step int // index in ladder
	max  int
	b    map[int64]*[nClasses]uint64 // bucket start (Unix s, multiple of the width) -> counts
}

func newHistogram(max int) *histogram {
	return &histogram{max: max, b: make(map[int64]*[nClasses]uint64)}
}

func (h *histogram) width() int64 {
	if h.step < len(ladder) {
		return ladder[h.step]
	}
	return ladder[len(ladder)-1] << (h.step - len(ladder) + 1)
}

// floorTo rounds t down to a multiple of w (also for t < 0).
func floorTo(t, w int64) int64 {
	r := t % w
	if r < 0 {
		r += w
	}
	return t - r
}

func (h *histogram) add(sec int64, cls int) {
	k := floorTo(sec, h.width())
	c := h.b[k]
	if c == nil {
		c = new([nClasses]uint64)
		h.b[k] = c
	}
	c[cls]++
	for len(h.b) > h.max {
		h.coarsen()
	}
}

func (h *histogram) coarsen() {
	h.step++
	w := h.width()
	nb := make(map[int64]*[nClasses]uint64, len(h.b)/2+1)
	for k, c := range h.b {
		nk := floorTo(k, w)
		d := nb[nk]
		if d == nil {
			nb[nk] = c
			continue
		}
		for i := range c {
			d[i] += c[i]
		}
	}
	h.b = nb
}

// series returns the counts from the first to the last bucket at the
// smallest width of the ladder (at least the histogram's) that gives at
// most maxBars buckets: start (Unix s), width (s) and one count array per
// bucket, empty ones included.
func (h *histogram) series(maxBars int) (start, width int64, bars [][nClasses]uint64) {
	if len(h.b) == 0 {
		return 0, 1, nil
	}
	first, last := int64(0), int64(0)
	init := false
	for k := range h.b {
		if !init || k < first {
			first = k
		}
		if !init || k > last {
			last = k
		}
		init = true
	}
	step := h.step
	w := h.width()
	for {
		n := (floorTo(last, w)-floorTo(first, w))/w + 1
		if n <= int64(maxBars) {
			break
		}
		step++
		if step < len(ladder) {
			w = ladder[step]
		} else {
			w = ladder[len(ladder)-1] << (step - len(ladder) + 1)
		}
	}
	start = floorTo(first, w)
	n := (floorTo(last, w)-start)/w + 1
	bars = make([][nClasses]uint64, n)
	for k, c := range h.b {
		i := (floorTo(k, w) - start) / w
		for j := range c {
			bars[i][j] += c[j]
		}
	}
	return start, w, bars
}
