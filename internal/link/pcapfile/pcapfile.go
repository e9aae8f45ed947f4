// Package pcapfile is the offline link backend: frames come from a pcap or
// pcapng capture and replies go to a pcap file. It also has Tee, which
// records the frames any link sends.
package pcapfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/masscanned-go/masscanned/internal/link"
)

// Snaplen is the snapshot length written in pcap headers.
const Snaplen = 262144

const (
	magicNg       = 0x0a0d0d0a
	magicMicro    = 0xa1b2c3d4
	magicNano     = 0xa1b23c4d
	magicMicroRev = 0xd4c3b2a1
	magicNanoRev  = 0x4d3cb2a1
)

// packetSource is what pcapgo's pcap and pcapng readers have in common.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// Reader reads Ethernet frames from a pcap or pcapng file.
type Reader struct {
	path string
	f    *os.File
	src  packetSource
	ng   *pcapgo.NgReader // non-nil for pcapng
	n    int              // frames read
}

// OpenReader opens a pcap or pcapng file (detected by its magic number)
// whose link type is Ethernet.
func OpenReader(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := newReader(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	return r, nil
}

func newReader(path string, rd io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(rd, 1<<16)
	head, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: file too short to be a pcap or pcapng capture", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := &Reader{path: path}
	switch binary.BigEndian.Uint32(head) {
	case magicNg:
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcapng file: %w", path, err)
		}
		r.src, r.ng = ng, ng
	case magicMicro, magicNano, magicMicroRev, magicNanoRev:
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcap file: %w", path, err)
		}
		r.src = pr
	default:
		return nil, fmt.Errorf("%s: not a pcap or pcapng capture (magic %#08x)", path, binary.BigEndian.Uint32(head))
	}
	if lt := r.src.LinkType(); lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%s: link type %s (%d) is not Ethernet", path, lt, uint8(lt))
	}
	return r, nil
}

// Next returns the next frame, valid until the following call, and its
// capture time. It returns io.EOF at the end of the file.
func (r *Reader) Next() ([]byte, time.Time, error) {
	data, ci, err := r.src.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, time.Time{}, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, time.Time{}, fmt.Errorf("%s: truncated after %d frames", r.path, r.n)
		}
		return nil, time.Time{}, fmt.Errorf("%s: frame %d: %w", r.path, r.n+1, err)
	}
	if r.ng != nil && ci.InterfaceIndex != 0 {
		if ifc, err := r.ng.Interface(ci.InterfaceIndex); err == nil && ifc.LinkType != layers.LinkTypeEthernet {
			return nil, time.Time{}, fmt.Errorf("%s: frame %d: link type %s (%d) is not Ethernet", r.path, r.n+1, ifc.LinkType, uint8(ifc.LinkType))
		}
	}
	r.n++
	return data, ci.Timestamp, nil
}

// Close closes the file.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Writer writes Ethernet frames to a pcap file (microsecond timestamps,
// snaplen 262144). It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	f   *os.File
	bw  *bufio.Writer
	pw  *pcapgo.Writer
	err error // first write error
}

// Create creates (or truncates) a pcap file at path.
func Create(path string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, bw: bufio.NewWriterSize(f, 1<<16)}
	w.pw = pcapgo.NewWriter(w.bw)
	if err := w.pw.WriteFileHeader(Snaplen, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// WriteFrame appends one frame captured at t.
func (w *Writer) WriteFrame(t time.Time, frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pw == nil {
		return link.ErrClosed
	}
	data := frame
	if len(data) > Snaplen {
		data = data[:Snaplen]
	}
	ci := gopacket.CaptureInfo{Timestamp: t, CaptureLength: len(data), Length: len(frame)}
	err := w.pw.WritePacket(ci, data)
	if err != nil && w.err == nil {
		w.err = err
	}
	return err
}

// Flush writes buffered frames to the file.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bw == nil {
		return nil
	}
	return w.bw.Flush()
}

// Close flushes and closes the file; it returns the first error seen.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return w.err
	}
	err := errors.Join(w.err, w.bw.Flush(), w.f.Close())
	w.f, w.bw, w.pw = nil, nil, nil
	w.err = err
	return err
}
