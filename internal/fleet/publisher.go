package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/masscanned-go/masscanned/internal/event"
)

// Header names set on every message.
const (
	HeaderMsgID  = jetstream.MsgIDHeader // "Nats-Msg-Id": <sensor>.<run>.<n>
	HeaderSensor = "Masscanned-Sensor"
)

// Config configures a Publisher.
type Config struct {
	URL      string // comma-separated server URLs
	Subject  string
	SensorID string
	Creds    *Creds // nil: none (or user:password in the URL)
	// Stream is created, capturing StreamSubjects(Subject), when no
	// stream of that name exists ("": the operator manages the stream).
	Stream      string
	SpoolDir    string
	SpoolSize   int64
	MaxInFlight int           // acknowledgements awaited at once (default 256)
	AckTimeout  time.Duration // default 5 s
	// DrainTimeout bounds how long Close goes on sending what is spooled
	// while the broker is connected (default 5 s).
	DrainTimeout time.Duration
	Log          *slog.Logger
	Options      []nats.Option // more client options (tests)
}

// Stats are the Publisher's counters.
type Stats struct {
	Published uint64 // messages sent (resent ones included)
	Acked     uint64 // events the stream acknowledged (once each)
	Spooled   uint64 // events written while the broker was unreachable
	Dropped   uint64 // events lost: the spool's bound, encoding or disk errors
	Unsent    uint64 // events in the spool not acknowledged yet
	Connected bool
}

// Publisher is an event.Sink that publishes events to JetStream through
// the spool. Write and Flush come from one goroutine (an event.Async);
// a goroutine of its own sends and awaits acknowledgements.
type Publisher struct {
	cfg   Config
	log   *slog.Logger
	nc    *nats.Conn
	js    jetstream.JetStream
	runID string

	mu    sync.Mutex // guards spool
	spool *Spool

	json   *event.JSON
	encBuf bytes.Buffer
	id     []byte
	n      uint64

	wake, status, quit, done chan struct{}

	online                     atomic.Bool
	published, acked, spooled  atomic.Uint64
	encodeErrors, unsentAtExit atomic.Uint64
	closed                     atomic.Bool
	closeOnce                  sync.Once
	lastErr                    string
}

const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 5 * time.Second
	tick       = 200 * time.Millisecond
)

// Open opens the spool (recovering what a previous run left) and starts
// connecting. An unreachable broker is not an error: events wait in the
// spool while the client keeps trying.
func Open(cfg Config) (*Publisher, Recovery, error) {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if cfg.SpoolSize <= 0 {
		cfg.SpoolSize = DefaultSpoolSize
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sp, rec, err := OpenSpool(cfg.SpoolDir, cfg.SpoolSize)
	if err != nil {
		return nil, rec, err
	}
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	p := &Publisher{
		cfg: cfg, log: log, spool: sp,
		runID:  strconv.FormatInt(time.Now().Unix(), 36) + hex.EncodeToString(rb[:]),
		wake:   make(chan struct{}, 1),
		status: make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	p.json = event.NewJSON(&p.encBuf)
	opts := []nats.Option{
		nats.Name("masscanned " + cfg.SensorID),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		// no client-side buffering while reconnecting: what was not
		// acknowledged is sent again from the spool, in order
		nats.ReconnectBufSize(-1),
		nats.Timeout(2 * time.Second),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Warn("nats: connected", "url", c.ConnectedUrlRedacted())
			p.poke(p.status)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Warn("nats: reconnected, sending the spool", "url", c.ConnectedUrlRedacted(), "spooled", p.Stats().Unsent)
			p.poke(p.status)
		}),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if p.closed.Load() {
				return
			}
			log.Warn("nats: disconnected, spooling events until the broker is back", "err", err)
			p.poke(p.status)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("nats: error", "err", err)
		}),
	}
	if cfg.Creds != nil {
		opts = append(opts, nats.UserJWTAndSeed(cfg.Creds.JWT, cfg.Creds.Seed))
	}
	opts = append(opts, cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		_ = sp.Close()
		return nil, rec, fmt.Errorf("--nats: %v", err)
	}
	if !nc.IsConnected() {
		log.Warn("nats: broker unreachable at start: spooling events and retrying", "url", cfg.URL, "spool", cfg.SpoolDir)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.MaxInFlight), jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		nc.Close()
		_ = sp.Close()
		return nil, rec, fmt.Errorf("--nats: %v", err)
	}
	p.nc, p.js = nc, js
	p.online.Store(nc.IsConnected())
	go p.loop()
	return p, rec, nil
}

func (p *Publisher) poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Write encodes e as the JSON sink does (the same line, newline included)
// and appends it to the spool. It never waits for the broker.
func (p *Publisher) Write(e *event.Event) error {
	p.encBuf.Reset()
	if err := p.json.Write(e); err != nil {
		_ = p.json.Flush()
		p.encodeErrors.Add(1)
		return nil
	}
	if err := p.json.Flush(); err != nil {
		p.encodeErrors.Add(1)
		return nil
	}
	p.n++
	p.id = append(append(append(append(p.id[:0], p.cfg.SensorID...), '.'), p.runID...), '.')
	p.id = strconv.AppendUint(p.id, p.n, 10)
	p.mu.Lock()
	err := p.spool.Append(string(p.id), p.encBuf.Bytes())
	p.mu.Unlock()
	if err != nil {
		p.logOnce("nats: event not spooled", err)
		return nil
	}
	if !p.online.Load() {
		p.spooled.Add(1)
	}
	return nil
}

// Flush makes the spooled events visible to the sending goroutine.
func (p *Publisher) Flush() error {
	p.mu.Lock()
	err := p.spool.Flush()
	p.mu.Unlock()
	if err != nil {
		p.logOnce("nats: spool", err)
	}
	p.poke(p.wake)
	return nil
}

func (p *Publisher) logOnce(msg string, err error) {
	if s := err.Error(); s != p.lastErr {
		p.lastErr = s
		p.log.Error(msg, "err", err)
	}
}

// Close sends what it can within the drain timeout (while connected),
// saves the spool and disconnects. What is left stays in the spool for
// the next start (with a kept --state-dir).
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		_ = p.Flush()
		close(p.quit)
		<-p.done
		p.closed.Store(true)
		p.nc.Close()
		p.mu.Lock()
		p.unsentAtExit.Store(p.spool.Unacked())
		err := p.spool.Close()
		p.mu.Unlock()
		if err != nil {
			p.log.Error("nats: closing the spool", "err", err)
		}
	})
	return nil
}

// Stats reads the counters; it may be called from any goroutine.
func (p *Publisher) Stats() Stats {
	s := Stats{
		Published: p.published.Load(),
		Acked:     p.acked.Load(),
		Spooled:   p.spooled.Load(),
		Connected: p.nc != nil && p.nc.IsConnected(),
	}
	p.mu.Lock()
	s.Dropped = p.spool.Dropped() + p.encodeErrors.Load()
	if p.closed.Load() {
		s.Unsent = p.unsentAtExit.Load()
	} else {
		s.Unsent = p.spool.Unacked()
	}
	p.mu.Unlock()
	return s
}

type inflight struct {
	fut jetstream.PubAckFuture
	end Pos
}

// loop sends spooled records in order, at most MaxInFlight awaiting their
// acknowledgement. A failure (disconnection, timeout, no stream) stops
// sending; once every acknowledgement in flight has been settled the
// spool is rewound to the last acknowledged record and sending resumes
// after a backoff, when connected.
func (p *Publisher) loop() {
	defer close(p.done)
	var (
		window   []inflight
		broken   bool // a record failed: later acknowledgements do not count
		halt     bool // stop sending until the window is settled
		retryAt  time.Time
		backoff  = minBackoff
		ensured  = p.cfg.Stream == ""
		closing  bool
		deadline time.Time
		lastSave time.Time
		quit     = p.quit
	)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	fail := func(err error) {
		if !halt {
			p.log.Warn("nats: not acknowledged: will send again from the spool", "err", err)
		}
		halt = true
	}
	for {
		now := time.Now()
		connected := p.nc.IsConnected()
		if halt && len(window) == 0 {
			p.mu.Lock()
			p.spool.Rewind()
			p.mu.Unlock()
			halt, broken = false, false
			retryAt = now.Add(backoff)
			backoff = min(2*backoff, maxBackoff)
		}
		if connected && !ensured && !now.Before(retryAt) {
			if err := p.ensureStream(); err != nil {
				p.log.Warn("nats: stream not ready", "stream", p.cfg.Stream, "err", err)
				retryAt = now.Add(backoff)
				backoff = min(2*backoff, maxBackoff)
			} else {
				ensured = true
			}
		}
		p.online.Store(connected && !halt)
		if connected && ensured && !halt && !now.Before(retryAt) {
			for len(window) < p.cfg.MaxInFlight {
				p.mu.Lock()
				rec, ok, err := p.spool.Next()
				p.mu.Unlock()
				if err != nil {
					p.log.Error("nats: spool", "err", err)
					continue
				}
				if !ok {
					break
				}
				msg := &nats.Msg{Subject: p.cfg.Subject, Data: rec.Data, Header: nats.Header{
					HeaderMsgID:  []string{rec.ID},
					HeaderSensor: []string{p.cfg.SensorID},
				}}
				fut, err := p.js.PublishMsgAsync(msg, jetstream.WithRetryAttempts(0))
				if err != nil {
					fail(err)
					break
				}
				p.published.Add(1)
				window = append(window, inflight{fut: fut, end: rec.End})
			}
		}
		if now.Sub(lastSave) >= time.Second {
			lastSave = now
			p.mu.Lock()
			err := p.spool.SaveCursor()
			p.mu.Unlock()
			if err != nil {
				p.log.Error("nats: spool", "err", err)
			}
		}
		if closing {
			p.mu.Lock()
			unacked := p.spool.Unacked()
			p.mu.Unlock()
			if unacked == 0 || now.After(deadline) || (!connected && len(window) == 0) {
				return
			}
		}

		var (
			okC  <-chan *jetstream.PubAck
			errC <-chan error
		)
		if len(window) > 0 {
			okC, errC = window[0].fut.Ok(), window[0].fut.Err()
		}
		select {
		case <-okC:
			end := window[0].end
			window[0] = inflight{}
			window = window[1:]
			if !broken {
				p.mu.Lock()
				p.spool.Commit(end)
				p.mu.Unlock()
				p.acked.Add(1)
				backoff = minBackoff
			}
		case err := <-errC:
			window[0] = inflight{}
			window = window[1:]
			broken = true
			fail(err)
		case <-p.wake:
		case <-p.status:
		case <-ticker.C:
		case <-quit:
			quit = nil
			closing = true
			deadline = time.Now().Add(p.cfg.DrainTimeout)
		}
	}
}

// ensureStream makes sure the stream exists, creating it if needed, and
// warns when it does not capture the subject.
func (p *Publisher) ensureStream() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := p.js.Stream(ctx, p.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = p.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        p.cfg.Stream,
			Description: "masscanned events (one subject per sensor)",
			Subjects:    StreamSubjects(p.cfg.Subject),
			Storage:     jetstream.FileStorage,
			Duplicates:  10 * time.Minute,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = p.js.Stream(ctx, p.cfg.Stream)
		} else if err == nil {
			p.log.Warn("nats: created stream", "stream", p.cfg.Stream, "subjects", StreamSubjects(p.cfg.Subject))
		}
	}
	if err != nil {
		return err
	}
	for _, f := range s.CachedInfo().Config.Subjects {
		if subjectMatches(f, p.cfg.Subject) {
			return nil
		}
	}
	p.log.Error("nats: the stream does not capture this sensor's subject: events stay in the spool until a stream does",
		"stream", p.cfg.Stream, "stream_subjects", s.CachedInfo().Config.Subjects, "subject", p.cfg.Subject)
	return nil
}
