package main

import (
	"fmt"
	"os"

	"github.com/masscanned-go/masscanned/internal/link"
	"github.com/masscanned-go/masscanned/internal/link/afpacket"
)

// txModeEnv chooses how the AF_PACKET link transmits (ring, the default;
// sendmmsg; write): a diagnostic knob for measuring, not a flag.
const txModeEnv = "MASSCANNED_AFPACKET_TX"

// afpacketTX is the transmit mode asked for in the environment.
func afpacketTX() (afpacket.TXMode, error) {
	m, err := afpacket.ParseTXMode(os.Getenv(txModeEnv))
	if err != nil {
		return "", fmt.Errorf("%s: %v", txModeEnv, err)
	}
	return m, nil
}

// logLinks says which mechanism each live link uses.
func (r *runner) logLinks() {
	for i, l := range r.links {
		if in, ok := l.(link.Interfacer); ok {
			if info := in.Interface(); info.Name != "" {
				r.log.Info("link", "worker", i, "interface", info.Name, "mtu", info.MTU, "backend", info.Backend, "batch", link.BatchSize(l))
			}
		}
	}
}
