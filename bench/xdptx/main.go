// Command xdptx attaches a minimal XDP program to an interface for
// bench/load.sh and holds it until SIGINT/SIGTERM (a bpf_link, never
// pinned: it goes with the process): -mode tx swaps the Ethernet
// addresses and bounces every frame back out (XDP_TX), the hairpin
// ceiling of the machine's XDP path; -mode pass passes everything, which
// a veth needs on the peer of an XDP_TX interface; -mode drop drops
// everything in the driver (the generator's cheap sink: replies are
// counted by the veth and go no further).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

func main() {
	iface := flag.String("i", "", "interface")
	mode := flag.String("mode", "tx", "tx (swap MACs, XDP_TX), pass (XDP_PASS) or drop (XDP_DROP)")
	flag.Parse()
	if err := run(*iface, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "xdptx:", err)
		os.Exit(1)
	}
}

func run(iface, mode string) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	var insns asm.Instructions
	switch mode {
	case "pass":
		insns = asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}
	case "drop":
		insns = asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}
	case "tx":
		insns = asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 14),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			asm.LoadMem(asm.R4, asm.R2, 0, asm.Word),
			asm.LoadMem(asm.R5, asm.R2, 4, asm.Half),
			asm.LoadMem(asm.R6, asm.R2, 6, asm.Word),
			asm.LoadMem(asm.R7, asm.R2, 10, asm.Half),
			asm.StoreMem(asm.R2, 0, asm.R6, asm.Word),
			asm.StoreMem(asm.R2, 4, asm.R7, asm.Half),
			asm.StoreMem(asm.R2, 6, asm.R4, asm.Word),
			asm.StoreMem(asm.R2, 10, asm.R5, asm.Half),
			asm.Mov.Imm(asm.R0, 3), // XDP_TX
			asm.Return(),
			asm.Mov.Imm(asm.R0, 2).WithSymbol("pass"),
			asm.Return(),
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "Dual MIT/GPL", Instructions: insns})
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println("attached")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}
