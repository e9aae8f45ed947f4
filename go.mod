module github.com/masscanned-go/masscanned

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/dchest/siphash v1.2.3
	github.com/gopacket/gopacket v1.7.7
	github.com/spf13/pflag v1.0.10
	golang.org/x/crypto v0.59.0
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)
