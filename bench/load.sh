#!/bin/bash
# bench/load.sh: SYN load benchmark in a private lab (two network
# namespaces + one veth pair, removed on exit). Generator: one trafgen
# process (CPU0) sending 54-byte IPv4 TCP SYNs (full checksums,
# incrementing source port). Responder pinned to CPU1. Reference: the
# Linux kernel answering with SYN cookies; then masscanned on AF_PACKET,
# masscanned on AF_XDP, and an XDP_TX hairpin (MAC swap, every frame
# bounced back by the driver) as the ceiling of this machine.
#
# usage: sudo bench/load.sh [DURATION_S] [WARMUP_S]     (defaults 5 1)
# env:   MASSCANNED=path/to/binary (default: built from this checkout)
#        MASSCANNED_AFPACKET_TX=ring|sendmmsg|write  AF_PACKET transmit path
#        RATE=100k     offer a fixed rate in frames/s (100000 or 100k; trafgen
#                      -b) instead of a flood, and report CPU and loss
#        WORKERS=2     masscanned --workers (AF_XDP: one per veth queue;
#                      AF_PACKET: fanout); with more than 1 the responder
#                      is not pinned (CPUS=0-1)
#        ONLY="kernel afpacket afxdp xdptx"  the runs to make (default all)
#        SINK=xdp|ingress|rps|stack  how the generator's namespace disposes
#                      of the replies: xdp (default) drops them in its veth's
#                      driver (XDP_DROP, counted), as a scanner's own NIC
#                      and CPU would take them; ingress at the nftables
#                      netdev ingress hook; rps the same on CPU0 (RPS);
#                      stack lets its kernel receive each up to an nftables
#                      input drop. On veth the receiver's work runs on the
#                      CPU that sent the reply (the responder's), so all but
#                      rps count it as responder CPU, xdp the least
#        PROFILE=DIR   record each masscanned window with `perf record -g`
#                      on the responder's CPUs into DIR/afpacket.data and
#                      DIR/afxdp.data (read with perf report -i)
set -euo pipefail
DUR=${1:-5}
WARM=${2:-1}
HERE=$(cd "$(dirname "$0")/.." && pwd)
ID=$$
G=mcbg-$ID R=mcbr-$ID VG=vbg$ID VR=vbr$ID
GIP=198.51.100.1 RIP=198.51.100.2
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do
		kill -INT -- "-$p" 2>/dev/null || true # a trafgen group
		kill -INT "$p" 2>/dev/null || true
	done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$G" 2>/dev/null || true
	ip netns del "$R" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for t in trafgen taskset nft ip python3; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
if [ -n "${PROFILE:-}" ]; then
	command -v perf >/dev/null || { echo "PROFILE needs perf (apt-get install linux-perf)" >&2; exit 1; }
	mkdir -p "$PROFILE"
fi
BIN=${MASSCANNED:-}
if [ -z "$BIN" ]; then
	BIN=$TMP/masscanned
	(cd "$HERE" && CGO_ENABLED=0 go build -o "$BIN" ./cmd/masscanned)
fi
XDPTX=$TMP/xdptx
(cd "$HERE" && CGO_ENABLED=0 go build -o "$XDPTX" ./bench/xdptx)
WORKERS=${WORKERS:-1}
CPUS=1
[ "$WORKERS" != 1 ] && CPUS=0-1
TGRATE=()
if [ -n "${RATE:-}" ]; then
	case $RATE in
	*[kK]) RATE=$(( ${RATE%[kK]} * 1000 )) ;;
	*[kK]pps) RATE=$(( ${RATE%[kK]pps} * 1000 )) ;;
	*pps) RATE=${RATE%pps} ;;
	esac
	[[ $RATE =~ ^[0-9]+$ ]] || { echo "RATE: a number of frames per second (100000 or 100k), not $RATE" >&2; exit 2; }
	TGRATE=(-b "${RATE}pps")
fi

ip netns add "$G"
ip netns add "$R"
# as many queues as workers (AF_XDP binds one socket per receive queue)
ip -n "$G" link add "$VG" numtxqueues "$WORKERS" numrxqueues "$WORKERS" type veth peer name "$VR" netns "$R" numtxqueues "$WORKERS" numrxqueues "$WORKERS"
for ns in "$G" "$R"; do ip -n "$ns" link set lo up; done
ip -n "$G" addr add $GIP/24 dev "$VG"
ip -n "$G" link set "$VG" up
ip -n "$R" link set "$VR" up
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
GMAC=$(cat /sys/class/net/"$VG"/address 2>/dev/null || ip -n "$G" -br link show "$VG" | awk '{print $3}')
RMAC=$(ip -n "$R" -br link show "$VR" | awk '{print $3}')
ip -n "$G" neigh replace $RIP lladdr "$RMAC" dev "$VG" nud permanent
# and the responder's kernel never asks for the generator's MAC (the XDP
# sink would drop the question)
ip -n "$R" neigh replace $GIP lladdr "$GMAC" dev "$VR" nud permanent
# the generator's kernel never answers the SYN-ACKs
ip netns exec "$G" nft 'table inet bench { chain in { type filter hook input priority 0; policy accept; meta l4proto tcp drop; }; }'
SINK=${SINK:-xdp}
case $SINK in
xdp)
	ip netns exec "$G" "$XDPTX" -i "$VG" -mode drop >/dev/null &
	SP=$!
	PIDS+=("$SP")
	;;
ingress | rps)
	SP=
	ip netns exec "$G" nft "table netdev sink { chain in { type filter hook ingress device $VG priority 0; policy drop; }; }"
	if [ "$SINK" = rps ]; then
		ip netns exec "$G" sh -c "for q in /sys/class/net/$VG/queues/rx-*/rps_cpus; do echo 1 >\$q; done"
	fi
	;;
stack) SP= ;;
*) echo "SINK: xdp, ingress, rps or stack, not $SINK" >&2; exit 2 ;;
esac

cat >"$TMP/syn.cfg" <<CFG
cpu(0): {
  eth(da=$RMAC, sa=$GMAC),
  ipv4(saddr=$GIP, daddr=$RIP, ttl=64, df),
  tcp(sp=dinc(1024, 65000), dp=80, seq=12345, syn, win=64240)
}
CFG

rx() { ip netns exec "$1" cat /sys/class/net/"$2"/statistics/rx_packets; }
ticks() { awk '{print $14+$15}' /proc/"$1"/stat; }
# busy ticks of the whole machine (all CPUs, softirq included)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
HZ=$(getconf CLK_TCK)

# measure NAME [PID]: run the generator for WARM+DUR s, count over DUR s
measure() {
	local name=$1 pid=${2:-}
	# bounded in time whatever happens to this script; its own process
	# group (trafgen forks a worker), stopped as a group
	setsid timeout -s INT -k 2 $((WARM + DUR + 10)) ip netns exec "$G" trafgen -i "$TMP/syn.cfg" -o "$VG" -P 1 -C -Q "${TGRATE[@]}" >/dev/null 2>&1 &
	local tg=$!
	PIDS+=("$tg")
	sleep "$WARM"
	local g0 r0 c0=0 g1 r1 c1=0 b0 b1
	g0=$(rx "$G" "$VG"); r0=$(rx "$R" "$VR"); b0=$(busy)
	[ -n "$pid" ] && c0=$(ticks "$pid")
	if [ -n "${PROFILE:-}" ] && [ -n "${PROF_NAME:-}" ]; then
		perf record -q -g -C "$CPUS" -o "$PROFILE/$PROF_NAME.data" -- sleep "$DUR" >/dev/null 2>&1
	else
		sleep "$DUR"
	fi
	g1=$(rx "$G" "$VG"); r1=$(rx "$R" "$VR"); b1=$(busy)
	[ -n "$pid" ] && c1=$(ticks "$pid")
	kill -INT -- "-$tg" 2>/dev/null || true; wait "$tg" 2>/dev/null || true
	OFFERED=$(( (r1 - r0) / DUR ))
	REPLIES=$(( (g1 - g0) / DUR ))
	CPU=$(( (c1 - c0) * 100 / HZ / DUR ))
	MCPU=$(( (b1 - b0) * 100 / HZ / DUR ))
	printf '%-34s offered %8d pps   replies %8d /s   machine CPU %3d %%' "$name" "$OFFERED" "$REPLIES" "$MCPU"
	[ -n "$pid" ] && printf '   process CPU %3d %%' "$CPU"
	echo
}

# row NAME REPLIES OFFERED PROC_CPU MACHINE_CPU: one line of the summary
row() {
	awk -v n="$1" -v r="$2" -v o="$3" -v c="$4" -v m="$5" -v k="$K" -v x="${X:-0}" 'BEGIN {
		share = (o > 0) ? 100 * r / o : 0
		pc = (c == "-" || r == 0) ? "      -" : sprintf("%7.1f", c * 100000 / r)
		mc = (r > 0) ? sprintf("%7.1f", m * 100000 / r) : "      -"
		rk = (k > 0) ? sprintf("%5.2f", r / k) : "    -"
		rx = (x > 0) ? sprintf("%5.2f", r / x) : "    -"
		printf "%-26s %9d %6.1f %%   %s   %s   %s   %s\n", n, r, share, pc, mc, rk, rx
	}'
}

echo "lab: 1 trafgen process on CPU0 -> veth -> responder on CPU$CPUS; generator's sink: $SINK; ${WARM}s warm-up, ${DUR}s window; $(nproc) CPUs, $(uname -r)"

ONLY=" ${ONLY:-kernel afpacket afxdp xdptx} "
want() { [[ $ONLY == *" $1 "* ]]; }
K=0 KO=0 KM=0 M=0 MO=0 MC=0 MM=0 A=0 AO=0 AC=0 AM=0 X=0 XO=0 XM=0

# (a) kernel reference: SYN cookies always, a listener on :80
if want kernel; then
ip -n "$R" addr add $RIP/24 dev "$VR"
ip netns exec "$R" sysctl -qw net.ipv4.tcp_syncookies=2
ip netns exec "$R" taskset -c 1 python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 80)); s.listen(16); time.sleep(3600)' &
LP=$!
PIDS+=("$LP")
sleep 0.5
measure "kernel (syncookies=2)"
K=$REPLIES KO=$OFFERED KM=$MCPU
kill "$LP" 2>/dev/null || true; wait "$LP" 2>/dev/null || true
ip -n "$R" addr del $RIP/24 dev "$VR"
fi

# (b) masscanned on AF_PACKET, (c) on AF_XDP; the responder kernel silenced
ip netns exec "$R" nft 'table inet bench { chain in { type filter hook input priority 0; policy drop; }; }'
# mc NAME LINK: run masscanned with --link LINK and measure it
mc() {
	: >"$TMP/mc.err"
	ip netns exec "$R" taskset -c "$CPUS" "$BIN" -i "$VR" --link "$2" --workers "$WORKERS" --no-rate-limit -q -v --self-ip-list $RIP 2>"$TMP/mc.err" &
	local mp=$!
	PIDS+=("$mp")
	for _ in $(seq 50); do grep -q 'msg=link' "$TMP/mc.err" && break; sleep 0.1; done
	sleep 0.5
	PROF_NAME=$2 measure "$1" "$mp"
	kill -INT "$mp"; wait "$mp" 2>/dev/null || true
	grep -o 'msg=link.*' "$TMP/mc.err" | head -1 | sed 's/^/    /'
	grep -o 'frames=.* kernel_drops=[0-9]*' "$TMP/mc.err" | tail -1 | sed 's/^/    /'
}
if want afpacket; then
	mc "masscanned AF_PACKET" afpacket
	M=$REPLIES MO=$OFFERED MC=$CPU MM=$MCPU
fi
if want afxdp; then
	mc "masscanned AF_XDP" afxdp
	A=$REPLIES AO=$OFFERED AC=$CPU AM=$MCPU
fi
ip netns exec "$R" nft delete table inet bench

# (d) the ceiling: XDP_TX hairpin in the responder's driver (a veth needs
# an XDP program on the peer too for XDP_TX: XDP_PASS there)
if want xdptx; then
PP=
if [ -z "$SP" ]; then
	ip netns exec "$G" "$XDPTX" -i "$VG" -mode pass >/dev/null &
	PP=$!
	PIDS+=("$PP")
fi
ip netns exec "$R" "$XDPTX" -i "$VR" -mode tx >/dev/null &
TP=$!
PIDS+=("$TP")
sleep 1
measure "XDP_TX hairpin (ceiling)"
X=$REPLIES XO=$OFFERED XM=$MCPU
kill -INT "$TP" $PP; wait "$TP" $PP 2>/dev/null || true
fi

echo
echo "CPU per 100k replies: process = the responder process (utime+stime); machine = all CPUs (generator and softirq included)"
printf '%-26s %9s %8s   %7s   %7s   %5s   %5s\n' run replies/s share "proc%" "mach%" "/kern" "/ceil"
want kernel && row "kernel (syncookies=2)" "$K" "$KO" - "$KM"
want afpacket && row "masscanned AF_PACKET" "$M" "$MO" "$MC" "$MM"
want afxdp && row "masscanned AF_XDP" "$A" "$AO" "$AC" "$AM"
want xdptx && row "XDP_TX hairpin" "$X" "$XO" - "$XM"
true
