package fleet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Spool is a bounded first-in first-out log of records on disk: every
// event goes through it on its way to the broker. Records are appended to
// numbered segment files; a reader takes them in order; a commit (the
// broker acknowledged everything up to a position) deletes the segments
// wholly before it and is remembered in a cursor file, so that a restart
// replays only what was not acknowledged. Rewind takes the reader back to
// the last commit (the broker lost what was in flight).
//
// When an append would make the segment files exceed the bound, the
// oldest segments are deleted and their records that had not been taken
// yet are counted as dropped.
//
// A record on disk is an 8-byte header (little-endian body length, CRC-32C
// of the body) and a body: a 2-byte length and the message id, then the
// data. A record cut short or damaged (a crash in the middle of a write)
// ends its segment: Open truncates the file there.
//
// Spool is not safe for concurrent use; the Publisher guards it.
type Spool struct {
	dir     string
	limit   int64
	segSize int64

	segs []*segment // oldest first; the last is the one written to
	size int64      // bytes of every segment file (buffered bytes included)

	w    *os.File
	wbuf *bufio.Writer

	r     Pos // next record to take
	rf    *os.File
	rbuf  *bufio.Reader
	rfOff int64 // offset of rf's reader

	commit      Pos
	savedCommit Pos

	appended uint64 // records appended since Open (plus those recovered)
	dropped  uint64
	orphans  uint64 // records taken, not committed, whose segment was dropped
	scratch  []byte
}

type segment struct {
	seq   uint64
	size  int64
	first uint64 // index of its first record
	end   uint64 // index after its last record
}

// Pos is a place in the spool: a segment, an offset in it, and the index
// of the record there (indexes count records since Open).
type Pos struct {
	Seg uint64
	Off int64
	Idx uint64
}

// Record is one spooled message.
type Record struct {
	ID   string
	Data []byte
	End  Pos // the position after the record: commit it once acknowledged
}

// Recovery tells what Open found.
type Recovery struct {
	Records   int      // records left to send
	Bytes     int64    // their segments' size
	Truncated []string // "file: n bytes after offset k" for each damaged tail cut off
}

const (
	headerLen    = 8
	maxRecord    = 64 << 20
	minSegment   = 1 << 10
	maxSegment   = 4 << 20
	segSuffix    = ".seg"
	cursorFile   = "cursor"
	cursorLength = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SegmentSize is the size at which a spool bounded to limit bytes starts
// its next segment: a sixteenth of the bound (at least 1 KiB, at most
// 4 MiB), the granularity at which the oldest records are dropped.
func SegmentSize(limit int64) int64 {
	return min(max(limit/16, minSegment), maxSegment)
}

// OpenSpool opens (creating it if needed) the spool in dir, bounded to
// limit bytes, and recovers what a previous run left: the records after
// the last commit are taken again.
func OpenSpool(dir string, limit int64) (*Spool, Recovery, error) {
	var rec Recovery
	if limit < minSegment {
		return nil, rec, fmt.Errorf("spool: bound %d bytes is below the minimum of %d", limit, minSegment)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, rec, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, limit: limit, segSize: SegmentSize(limit)}
	names, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		return nil, rec, fmt.Errorf("spool: %w", err)
	}
	var seqs []uint64
	for _, n := range names {
		seq, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(n), segSuffix), 16, 64)
		if err == nil {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	cur, haveCur := s.readCursor()
	for _, seq := range seqs {
		if haveCur && seq < cur.Seg {
			_ = os.Remove(s.path(seq))
			continue
		}
		start := int64(0)
		if haveCur && seq == cur.Seg {
			start = cur.Off
		}
		seg, note, err := s.scan(seq, start)
		if err != nil {
			return nil, rec, err
		}
		if note != "" {
			rec.Truncated = append(rec.Truncated, note)
		}
		if seg == nil {
			continue
		}
		s.segs = append(s.segs, seg)
		s.size += seg.size
	}
	// the reader and the commit start at the first record kept
	if len(s.segs) > 0 {
		first := s.segs[0]
		off := int64(0)
		if haveCur && first.seq == cur.Seg {
			off = min(cur.Off, first.size)
		}
		s.r = Pos{Seg: first.seq, Off: off}
		s.commit = s.r
		s.savedCommit = s.r
		rec.Records = int(s.appended)
		rec.Bytes = s.size
	}
	next := uint64(1)
	if len(s.segs) > 0 {
		next = s.segs[len(s.segs)-1].seq + 1
	}
	if err := s.startSegment(next); err != nil {
		return nil, rec, err
	}
	if len(s.segs) == 1 {
		s.r = Pos{Seg: next}
		s.commit, s.savedCommit = s.r, s.r
	}
	return s, rec, nil
}

func (s *Spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", seq, segSuffix))
}

// scan counts the valid records of segment seq from offset start and cuts
// off a damaged tail. A segment with no record left is removed (nil).
func (s *Spool) scan(seq uint64, start int64) (*segment, string, error) {
	p := s.path(seq)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, "", fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("spool: %w", err)
	}
	seg := &segment{seq: seq, first: s.appended}
	br := bufio.NewReaderSize(f, 64<<10)
	off := int64(0)
	var note string
	for {
		n, _, _, err := readRecord(br, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			note = fmt.Sprintf("%s: %d bytes after offset %d (%v)", p, fi.Size()-off, off, err)
			if err := f.Truncate(off); err != nil {
				return nil, "", fmt.Errorf("spool: truncating %s: %w", p, err)
			}
			break
		}
		if off >= start {
			s.appended++
		}
		off += n
	}
	seg.size, seg.end = off, s.appended
	if seg.end == seg.first {
		_ = os.Remove(p)
		return nil, note, nil
	}
	// the records before start are committed: keep the file's size
	return seg, note, nil
}

var errDamaged = errors.New("damaged record")

// readRecord reads one record; it returns its size on disk. A clean end
// of file is io.EOF; anything cut short or failing its checksum is an
// error wrapping errDamaged. id and data are only decoded with buf != nil
// (data aliases buf's array).
func readRecord(br *bufio.Reader, buf []byte) (n int64, id string, data []byte, err error) {
	var h [headerLen]byte
	k, err := io.ReadFull(br, h[:])
	if err == io.EOF {
		return 0, "", nil, io.EOF
	}
	if err != nil {
		return 0, "", nil, fmt.Errorf("%w: header cut short after %d bytes", errDamaged, k)
	}
	ln := binary.LittleEndian.Uint32(h[0:4])
	sum := binary.LittleEndian.Uint32(h[4:8])
	if ln < 2 || ln > maxRecord {
		return 0, "", nil, fmt.Errorf("%w: length %d", errDamaged, ln)
	}
	if cap(buf) < int(ln) {
		buf = make([]byte, ln)
	}
	body := buf[:ln]
	if k, err := io.ReadFull(br, body); err != nil {
		return 0, "", nil, fmt.Errorf("%w: body cut short after %d of %d bytes", errDamaged, k, ln)
	}
	if crc32.Checksum(body, castagnoli) != sum {
		return 0, "", nil, fmt.Errorf("%w: checksum", errDamaged)
	}
	il := int(binary.LittleEndian.Uint16(body[0:2]))
	if 2+il > len(body) {
		return 0, "", nil, fmt.Errorf("%w: id length %d", errDamaged, il)
	}
	return headerLen + int64(ln), string(body[2 : 2+il]), body[2+il:], nil
}

func (s *Spool) startSegment(seq uint64) error {
	if s.wbuf != nil {
		if err := s.wbuf.Flush(); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		_ = s.w.Close()
	}
	f, err := os.OpenFile(s.path(seq), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.w = f
	if s.wbuf == nil {
		s.wbuf = bufio.NewWriterSize(f, 64<<10)
	} else {
		s.wbuf.Reset(f)
	}
	s.segs = append(s.segs, &segment{seq: seq, first: s.appended, end: s.appended})
	return nil
}

// Append adds a record at the end, first dropping the oldest segments if
// the bound would be exceeded. A record larger than the whole bound is
// dropped (counted) and reported as an error.
func (s *Spool) Append(id string, data []byte) error {
	if len(id) > 0xffff {
		id = id[:0xffff]
	}
	ln := 2 + len(id) + len(data)
	n := int64(headerLen + ln)
	if n > s.limit || ln > maxRecord {
		s.dropped++
		return fmt.Errorf("spool: a record of %d bytes does not fit a spool of %d bytes", n, s.limit)
	}
	tail := s.segs[len(s.segs)-1]
	if tail.size > 0 && tail.size+n > s.segSize {
		if err := s.startSegment(tail.seq + 1); err != nil {
			return err
		}
	}
	for s.size+n > s.limit && len(s.segs) > 1 {
		s.dropOldest()
	}
	b := slices.Grow(s.scratch[:0], headerLen+ln)[:headerLen]
	b = binary.LittleEndian.AppendUint16(b, uint16(len(id)))
	b = append(b, id...)
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[0:4], uint32(ln))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(b[headerLen:], castagnoli))
	s.scratch = b
	if _, err := s.wbuf.Write(b); err != nil {
		s.dropped++
		return fmt.Errorf("spool: %w", err)
	}
	tail = s.segs[len(s.segs)-1]
	tail.size += n
	tail.end++
	s.size += n
	s.appended++
	return nil
}

// dropOldest deletes the oldest segment; its records not taken yet are
// counted as dropped, and the reader and the commit move past it.
func (s *Spool) dropOldest() {
	old := s.segs[0]
	s.segs = s.segs[1:]
	s.size -= old.size
	if s.r.Idx < old.end {
		s.dropped += old.end - max(s.r.Idx, old.first)
	}
	// taken but not acknowledged yet: lost if the broker does not
	// acknowledge them (see Rewind)
	if lo, hi := max(s.commit.Idx, old.first), min(s.r.Idx, old.end); hi > lo {
		s.orphans += hi - lo
	}
	head := Pos{Seg: s.segs[0].seq, Idx: s.segs[0].first}
	if s.r.Seg <= old.seq {
		s.closeReader()
		s.r = head
	}
	if s.commit.Seg <= old.seq {
		s.commit = head
	}
	_ = os.Remove(s.path(old.seq))
}

// Flush writes the buffered records to the segment file.
func (s *Spool) Flush() error {
	if err := s.wbuf.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Next takes the next record, or reports false when every appended record
// has been taken. Unflushed records are flushed first.
func (s *Spool) Next() (Record, bool, error) {
	if s.r.Idx >= s.appended {
		return Record{}, false, nil
	}
	for {
		i := s.segIndex(s.r.Seg)
		if i < 0 {
			return Record{}, false, fmt.Errorf("spool: reader on a missing segment %d", s.r.Seg)
		}
		seg := s.segs[i]
		if s.r.Idx < seg.end {
			break
		}
		// this segment is done: the next one
		s.closeReader()
		if i+1 >= len(s.segs) {
			return Record{}, false, nil
		}
		s.r = Pos{Seg: s.segs[i+1].seq, Idx: s.segs[i+1].first}
	}
	if s.r.Seg == s.segs[len(s.segs)-1].seq && s.wbuf.Buffered() > 0 {
		if err := s.Flush(); err != nil {
			return Record{}, false, err
		}
	}
	if s.rf == nil || s.rfOff != s.r.Off {
		s.closeReader()
		f, err := os.Open(s.path(s.r.Seg))
		if err != nil {
			return Record{}, false, fmt.Errorf("spool: %w", err)
		}
		if _, err := f.Seek(s.r.Off, io.SeekStart); err != nil {
			f.Close()
			return Record{}, false, fmt.Errorf("spool: %w", err)
		}
		s.rf, s.rfOff = f, s.r.Off
		if s.rbuf == nil {
			s.rbuf = bufio.NewReaderSize(f, 64<<10)
		} else {
			s.rbuf.Reset(f)
		}
	}
	n, id, data, err := readRecord(s.rbuf, nil)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		// the file does not hold what was appended (changed behind our
		// back): give up on the rest of this segment
		i := s.segIndex(s.r.Seg)
		seg := s.segs[i]
		s.dropped += seg.end - s.r.Idx
		s.closeReader()
		if i+1 < len(s.segs) {
			s.r = Pos{Seg: s.segs[i+1].seq, Idx: s.segs[i+1].first}
		} else {
			s.r = Pos{Seg: seg.seq, Off: seg.size, Idx: seg.end}
		}
		return Record{}, false, fmt.Errorf("spool: reading segment %d: %w", seg.seq, err)
	}
	s.r.Off += n
	s.r.Idx++
	s.rfOff = s.r.Off
	return Record{ID: id, Data: data, End: s.r}, true, nil
}

func (s *Spool) closeReader() {
	if s.rf != nil {
		_ = s.rf.Close()
		s.rf = nil
	}
}

func (s *Spool) segIndex(seq uint64) int {
	for i, g := range s.segs {
		if g.seq == seq {
			return i
		}
	}
	return -1
}

// Commit records that every record before p was acknowledged: segments
// wholly before it are deleted. A position in a segment already dropped
// is ignored.
func (s *Spool) Commit(p Pos) {
	if s.segIndex(p.Seg) < 0 {
		if s.orphans > 0 {
			s.orphans--
		}
		return
	}
	if p.Idx <= s.commit.Idx {
		return
	}
	s.orphans = 0
	s.commit = p
	for len(s.segs) > 1 && s.segs[0].seq < p.Seg {
		old := s.segs[0]
		s.segs = s.segs[1:]
		s.size -= old.size
		_ = os.Remove(s.path(old.seq))
	}
}

// Rewind takes the reader back to the last commit: the records taken
// since are taken again. It returns how many records it gives back.
// Records taken from a segment dropped since are lost: counted as
// dropped.
func (s *Spool) Rewind() uint64 {
	s.dropped += s.orphans
	s.orphans = 0
	n := s.r.Idx - s.commit.Idx
	s.r = s.commit
	s.closeReader()
	return n
}

// SaveCursor writes the commit position to the cursor file (if it moved),
// so that a restart does not send again what was acknowledged.
func (s *Spool) SaveCursor() error {
	if s.commit == s.savedCommit {
		return nil
	}
	var b [cursorLength]byte
	binary.LittleEndian.PutUint64(b[0:8], s.commit.Seg)
	binary.LittleEndian.PutUint64(b[8:16], uint64(s.commit.Off))
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	if err := os.WriteFile(tmp, b[:], 0o600); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, cursorFile)); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.savedCommit = s.commit
	return nil
}

func (s *Spool) readCursor() (Pos, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, cursorFile))
	if err != nil || len(b) != cursorLength {
		return Pos{}, false
	}
	return Pos{Seg: binary.LittleEndian.Uint64(b[0:8]), Off: int64(binary.LittleEndian.Uint64(b[8:16]))}, true
}

// Pending is the number of records not taken yet.
func (s *Spool) Pending() uint64 { return s.appended - s.r.Idx }

// Unacked is the number of records not committed yet (taken or not).
func (s *Spool) Unacked() uint64 { return s.appended - s.commit.Idx }

// Size is the bytes of the segment files.
func (s *Spool) Size() int64 { return s.size }

// Dropped is the number of records lost to the bound (or to a damaged
// segment).
func (s *Spool) Dropped() uint64 { return s.dropped }

// Close flushes, saves the cursor and closes the files.
func (s *Spool) Close() error {
	err := s.Flush()
	if e := s.SaveCursor(); err == nil {
		err = e
	}
	s.closeReader()
	if e := s.w.Close(); err == nil && e != nil {
		err = fmt.Errorf("spool: %w", e)
	}
	return err
}
