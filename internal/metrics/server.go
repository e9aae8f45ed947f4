package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the metrics are served.
const Path = "/metrics"

// CheckAddr validates a --metrics address: HOST:PORT with a numeric port
// (HOST may be empty for every address; an IPv6 address goes in
// brackets).
func CheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid --metrics address %q: want ADDR:PORT (e.g. 127.0.0.1:9100 or [::1]:9100)", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("invalid --metrics address %q: the port must be a number from 0 (any free port) to 65535", addr)
	}
	return nil
}

// Server serves Path over plain HTTP. It listens as soon as it is made
// (so that a bad address or a port in use is an error at start) and
// serves once Serve is called: scrapes meanwhile wait in the backlog.
type Server struct {
	ln  net.Listener
	srv *http.Server
	ch  chan error
}

// Listen opens the metrics listener on addr with the kernel's sockets (in
// the network namespace masscanned runs in, not on the responder's
// addresses).
func Listen(addr string) (*Server, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return nil, fmt.Errorf("--metrics %s: cannot listen: %v", addr, err)
	}
	return &Server{ln: ln}, nil
}

// Addr is the address listened on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve starts serving g's metrics in a goroutine.
func (s *Server) Serve(g prometheus.Gatherer) {
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4, Timeout: 10 * time.Second}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "masscanned metrics: %s\n", Path)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
	s.ch = make(chan error, 1)
	go func() { s.ch <- s.srv.Serve(s.ln) }()
}

// Close stops serving (letting scrapes under way finish for a moment) and
// closes the listener.
func (s *Server) Close() error {
	if s.srv == nil {
		return s.ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.ch; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
