package stack

// Tx collects the reply frames of one Handle call. It is reused across
// calls; after warm-up it does not allocate.
type Tx struct {
	buf  []byte
	ends []int
}

// Reset empties t.
func (t *Tx) Reset() {
	t.buf = t.buf[:0]
	t.ends = t.ends[:0]
}

// Len is the number of frames.
func (t *Tx) Len() int { return len(t.ends) }

// Frame returns frame i.
func (t *Tx) Frame(i int) []byte {
	start := 0
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.buf[start:t.ends[i]]
}

// Bytes is the total size of all frames.
func (t *Tx) Bytes() int { return len(t.buf) }

// grow appends n zero bytes to the current frame and returns them.
func (t *Tx) grow(n int) []byte {
	l := len(t.buf)
	if cap(t.buf)-l < n {
		nb := make([]byte, l, 2*cap(t.buf)+n+2048)
		copy(nb, t.buf)
		t.buf = nb
	}
	t.buf = t.buf[:l+n]
	b := t.buf[l : l+n]
	clear(b)
	return b
}

// commit ends the frame being built.
func (t *Tx) commit() { t.ends = append(t.ends, len(t.buf)) }
