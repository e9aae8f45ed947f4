package report

import (
	"fmt"
	"math"
	"time"
)

// activityChart is the SVG stacked bar chart of events over time.
type activityChart struct {
	W, H           int
	X0, Y0, PW, PH int // plot area
	Bars           []activityBar
	YTicks         []tick
	XTicks         []tick
	Caption        string
	Legend         []legendItem
}

type activityBar struct {
	X, W  string
	Segs  []seg
	Title string
}

type seg struct {
	Y, H  string
	Class string
}

type tick struct {
	X, Y  string // position (X for x ticks, Y for y ticks)
	Label string
}

type legendItem struct {
	X     int
	Class string
	Label string
}

var classNames = [nClasses]string{"send", "recv", "drop", "other"}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

// niceStep is a round tick step (1, 2 or 5 times a power of ten) giving
// about n ticks up to max.
func niceStep(max float64, n int) float64 {
	if max <= 0 {
		return 1
	}
	raw := max / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			s := m * p
			if s < 1 {
				s = 1
			}
			return s
		}
	}
	return 10 * p
}

// widthLabel names a bucket width: 1s, 5m, 1h, 1d, 7d.
func widthLabel(w int64) string {
	switch {
	case w%86400 == 0:
		return fmt.Sprintf("%dd", w/86400)
	case w%3600 == 0:
		return fmt.Sprintf("%dh", w/3600)
	case w%60 == 0:
		return fmt.Sprintf("%dmin", w/60)
	}
	return fmt.Sprintf("%ds", w)
}

// timeLabel formats a bucket start for an axis whose buckets are w
// seconds wide and whose range spans span seconds.
func timeLabel(t time.Time, w, span int64) string {
	switch {
	case w >= 86400:
		return t.Format("2006-01-02")
	case span > 86400:
		return t.Format("01-02 15:04")
	case w >= 60:
		return t.Format("15:04")
	}
	return t.Format("15:04:05")
}

func newActivityChart(h *histogram) *activityChart {
	start, w, bars := h.series(120)
	if len(bars) == 0 {
		return nil
	}
	c := &activityChart{W: 960, H: 300, X0: 70, Y0: 20, PW: 870, PH: 210}
	var max uint64
	for _, b := range bars {
		var s uint64
		for _, v := range b {
			s += v
		}
		if s > max {
			max = s
		}
	}
	step := niceStep(float64(max), 5)
	top := math.Ceil(float64(max)/step) * step
	if top == 0 {
		top = 1
	}
	yOf := func(v float64) float64 { return float64(c.Y0+c.PH) - v/top*float64(c.PH) }
	for v := 0.0; v <= top+step/2; v += step {
		c.YTicks = append(c.YTicks, tick{Y: f1(yOf(v)), Label: fmtN(uint64(v))})
	}
	bw := float64(c.PW) / float64(len(bars))
	gap := 0.0
	if bw > 4 {
		gap = bw * 0.15
	}
	span := w * int64(len(bars))
	for i, b := range bars {
		x := float64(c.X0) + float64(i)*bw
		bt := time.Unix(start+int64(i)*w, 0).UTC()
		var total uint64
		for _, v := range b {
			total += v
		}
		bar := activityBar{X: f1(x + gap/2), W: f1(math.Max(bw-gap, 0.5)),
			Title: fmt.Sprintf("%s UTC, %s: %s events (send %s, recv %s, drop %s)", bt.Format("2006-01-02 15:04:05"), widthLabel(w),
				fmtN(total), fmtN(b[clsSend]), fmtN(b[clsRecv]), fmtN(b[clsDrop]))}
		var acc uint64
		for cls, v := range b {
			if v == 0 {
				continue
			}
			y0, y1 := yOf(float64(acc)), yOf(float64(acc+v))
			acc += v
			bar.Segs = append(bar.Segs, seg{Y: f1(y1), H: f1(math.Max(y0-y1, 0.5)), Class: "c-" + classNames[cls]})
		}
		c.Bars = append(c.Bars, bar)
	}
	// about 8 time labels, on bucket boundaries
	every := (len(bars) + 7) / 8
	if every < 1 {
		every = 1
	}
	for i := 0; i < len(bars); i += every {
		x := float64(c.X0) + float64(i)*bw
		c.XTicks = append(c.XTicks, tick{X: f1(x), Label: timeLabel(time.Unix(start+int64(i)*w, 0).UTC(), w, span)})
	}
	from := time.Unix(start, 0).UTC()
	c.Caption = fmt.Sprintf("events per %s (UTC), from %s, %d buckets; peak %s", widthLabel(w), from.Format("2006-01-02 15:04:05"), len(bars), fmtN(max))
	for i, n := range classNames {
		c.Legend = append(c.Legend, legendItem{X: c.X0 + i*110, Class: "c-" + n, Label: n})
	}
	return c
}

// hbarChart is an SVG horizontal bar chart of a ranked list.
type hbarChart struct {
	W, H    int
	LabelX  int
	Rows    []hbarRow
	Caption string
}

type hbarRow struct {
	Y, TY   int
	Label   string
	Full    string
	W       string
	Value   string
	ValueX  string
	BarX    int
	BarH    int
	BarClas string
}

func newHBarChart(caption string, labels []string, values []uint64, class string) *hbarChart {
	if len(labels) == 0 {
		return nil
	}
	const rowH, labelW, barX, barMax = 22, 250, 260, 600
	c := &hbarChart{W: 960, H: rowH*len(labels) + 10, LabelX: labelW, Caption: caption}
	var max uint64
	for _, v := range values {
		if v > max {
			max = v
		}
	}
	for i, l := range labels {
		w := 0.0
		if max > 0 {
			w = float64(values[i]) / float64(max) * barMax
		}
		short := l
		if r := []rune(l); len(r) > 38 {
			short = string(r[:37]) + "…"
		}
		y := 5 + i*rowH
		c.Rows = append(c.Rows, hbarRow{Y: y, TY: y + 15, Label: short, Full: l, W: f1(math.Max(w, 1)), Value: fmtN(values[i]),
			ValueX: f1(barX + math.Max(w, 1) + 6), BarX: barX, BarH: rowH - 6, BarClas: class})
	}
	return c
}
