package event

// Sink writes events somewhere (stdout in a format, a file, ...). A Sink is
// used from one goroutine only (the Async that owns it).
type Sink interface {
	Write(e *Event) error
	Flush() error
	Close() error
}
