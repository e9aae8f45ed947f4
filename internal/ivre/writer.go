package ivre

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/masscanned-go/masscanned/internal/event"
)

// Writer is an event.Sink writing the records of each event as zeek's
// JSON writer would (one object per line, keys in the script's order:
// ts, uid, host, srvport, recon_type, source, value; absent optional
// fields left out). A file it created is reopened (same path, appended
// to) at the next write after Reopen: log rotation with SIGHUP.
type Writer struct {
	path   string
	f      *os.File
	w      *bufio.Writer
	m      *Mapper
	recs   []Record
	buf    []byte
	reopen atomic.Bool
	n      atomic.Uint64
}

// Create opens path for appending (created 0640 if missing) and returns
// a Writer to it.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("--ivre: %v", err)
	}
	w := NewWriter(f)
	w.path, w.f = path, f
	return w, nil
}

// NewWriter returns a Writer to w, which the caller owns.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), m: NewMapper(), buf: make([]byte, 0, 1024)}
}

// Reopen makes the next write reopen the file (safe from any goroutine).
func (w *Writer) Reopen() { w.reopen.Store(true) }

// Records is the number of records written.
func (w *Writer) Records() uint64 { return w.n.Load() }

// Write writes e's records.
func (w *Writer) Write(e *event.Event) error {
	if w.reopen.Swap(false) && w.f != nil {
		if err := w.doReopen(); err != nil {
			return err
		}
	}
	w.recs = w.m.Append(w.recs[:0], e)
	for i := range w.recs {
		w.buf = AppendJSON(w.buf[:0], &w.recs[i])
		if _, err := w.w.Write(w.buf); err != nil {
			return err
		}
		w.n.Add(1)
	}
	clear(w.recs) // do not keep the event's strings alive
	return nil
}

func (w *Writer) doReopen() error {
	if err := w.w.Flush(); err != nil {
		return err
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("reopening --ivre: %v", err)
	}
	old := w.f
	w.f = f
	w.w.Reset(f)
	return old.Close()
}

// Flush writes buffered lines out.
func (w *Writer) Flush() error { return w.w.Flush() }

// Close flushes, and closes the file Create opened.
func (w *Writer) Close() error {
	err := w.w.Flush()
	if w.f != nil {
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// AppendJSON appends r as one JSON line.
func AppendJSON(b []byte, r *Record) []byte {
	b = append(b, `{"ts":`...)
	b = strconv.AppendFloat(b, float64(r.TS.UnixMicro())/1e6, 'f', 6, 64)
	if r.UID != 0 {
		b = append(b, `,"uid":"`...)
		b = append(event.AppendUID(b, r.UID), '"')
	}
	if r.Host.IsValid() {
		b = append(b, `,"host":"`...)
		b = append(r.Host.Unmap().AppendTo(b), '"')
	}
	if r.SrvPort != 0 {
		b = append(b, `,"srvport":`...)
		b = strconv.AppendUint(b, uint64(r.SrvPort), 10)
	}
	b = append(b, `,"recon_type":"PassiveRecon::`...)
	b = append(b, r.Type...)
	b = append(b, '"')
	if r.Source != "" {
		b = append(b, `,"source":`...)
		b = appendZeekString(b, r.Source)
	}
	b = append(b, `,"value":`...)
	b = appendZeekString(b, r.Value)
	return append(b, '}', '\n')
}

const hexDigits = "0123456789abcdef"

// appendZeekString appends s as a JSON string of zeek's escaping of
// bytes (IVRE's utils.zeek_encode_data, which its nmap_decode_data
// reverses): printable ASCII as is, a backslash doubled, every other
// byte as \xNN; then JSON's own escaping of '"' and '\'.
func appendZeekString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			b = append(b, `\\\\`...) // zeek's "\\", JSON-escaped
		case c == '"':
			b = append(b, '\\', '"')
		case c >= 32 && c <= 126:
			b = append(b, c)
		default:
			b = append(b, '\\', '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return append(b, '"')
}
