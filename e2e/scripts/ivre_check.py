#!/usr/bin/env python3
"""Check a file of IVRE passive recon records as `ivre passiverecon2db`
would import it, without IVRE (not packaged for Debian, no PyPI here).

Re-implemented from ivre/ivre commit 9751e08c5554132021eeb192a41ce7464653ebbd:
  ivre/tools/passiverecon2db.py  main(), rec_iter()   (file sniffing, ts/recon_type)
  ivre/passive.py                handle_rec(), _prepare_rec(), getinfos() and
                                 the _getinfos_* functions of the types written
  ivre/utils.py                  nmap_decode_data() (strict: a warning is an error)
  ivre/view.py                   _extract_passive_HONEYPOT_HIT(),
                                 _extract_passive_HTTP_HONEYPOT_REQUEST(),
                                 _extract_passive_DNS_HONEYPOT_QUERY(),
                                 _extract_passive_NTLM() (source parsing)
Every place where IVRE would raise, log a warning or drop the record is an
error here. Prints a JSON summary {"records": n, "by_type": {...},
"records_list": [...specs...]} and exits 1 on the first error.
"""

import base64
import binascii
import hashlib
import ipaddress
import json
import re
import sys

MD5 = re.compile("^[0-9a-f]{32}$", re.I)
_JA4_A = "[tq?][0-9?]{2}[id][0-9]{4}.{2}"
_JA4_HASH = "[0-9a-f]{12}"
_JA4_LIST = "(?:[0-9a-f]{4}(?:,[0-9a-f]{4})*)?"
JA4 = re.compile(f"^(?P<ja4_a>{_JA4_A})_(?P<ja4_b>{_JA4_HASH})_(?P<ja4_c>{_JA4_HASH})$")
JA4_RAW = re.compile(
    f"^(?P<ja4_a>{_JA4_A})_(?P<ja4_b_raw>{_JA4_LIST})_(?P<ja4_c1_raw>{_JA4_LIST})(?:_(?P<ja4_c2_raw>{_JA4_LIST}))?$",
    re.I,
)
_RAWS = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\", "0": b"\x00", '"': b'"'}


class ImportError_(Exception):
    pass


def nmap_decode_data(data):
    """utils._nmap_decode_data, where each LOGGER.warning raises."""
    out = []
    status = 0
    first = -1
    for char in data:
        if not status:
            if char == "\\":
                status = 1
                continue
            out.append(char.encode())
            continue
        if status == 1:
            if char in _RAWS:
                out.append(_RAWS[char])
                status = 0
                continue
            if char == "x":
                status = 2
                continue
            raise ImportError_("nmap_decode_data: cannot decode %r in %r" % ("\\" + char, data))
        if status == 2:
            try:
                first = int(char, 16)
            except ValueError:
                raise ImportError_(f"nmap_decode_data: cannot decode \\x{char} in {data!r}")
            status = 3
            continue
        if status == 3:
            try:
                out.append(bytes([first * 16 + int(char, 16)]))
            except ValueError:
                raise ImportError_(f"nmap_decode_data: cannot decode in {data!r}")
            status = 0
    if status:
        raise ImportError_(f"nmap_decode_data: invalid escape sequence at end of {data!r}")
    return b"".join(out)


def handle_rec(timestamp=None, uid=None, host=None, srvport=None, recon_type=None,
               source=None, value=None, targetval=None):
    """passive.handle_rec's signature: an unknown key is a TypeError,
    as in IVRE (rec_iter calls handle_rec(**line))."""
    spec = {"schema_version": 3, "recontype": recon_type, "value": value}
    if host is None:
        spec["targetval"] = targetval
    else:
        spec["addr"] = host
    if srvport is not None:
        spec["port"] = srvport
    if source is not None:
        spec["source"] = source
    return timestamp, spec


def check_ntlm_value(value, spec):
    # passive._getinfos_ntlm: "k:b64" items, comma-separated
    if value == "":
        return
    for item in value.split(","):
        k, v = item.split(":", 1)  # ValueError: IVRE warns "Incorrect value"
        if k == "NTLM_Version":
            continue
        try:
            base64.b64decode(v.encode(), validate=True)
        except (binascii.Error, ValueError):
            raise ImportError_(f"Incorrect value for field {k!r} in record {spec!r}")


def prepare(spec):
    """The checks and rewrites of passive._prepare_rec, getinfos and the
    view extraction for the types masscanned writes."""
    rt = spec["recontype"]
    value = spec["value"]
    if not isinstance(value, str):
        raise ImportError_(f"value is not a string: {spec!r}")
    if "addr" in spec:
        ipaddress.ip_address(spec["addr"])  # utils.force_ip2int / the DB's addr column
    if rt in {"TCP_HONEYPOT_HIT", "UDP_HONEYPOT_HIT", "STUN_HONEYPOT_REQUEST"}:
        if value:
            nmap_decode_data(value)
        proto, port = spec["source"].split("/", 1)  # view: "Unknown source in record"
        int(port)
        if proto != rt[:3].lower() and rt != "STUN_HONEYPOT_REQUEST":
            raise ImportError_(f"source protocol {proto} for {rt}")
    elif rt == "HTTP_HONEYPOT_REQUEST":
        method, version, proto_port = spec["source"].rsplit("-", 2)
        proto, port = proto_port.split("/", 1)
        int(port)
        nmap_decode_data(value)
    elif rt == "DNS_HONEYPOT_QUERY":
        proto_port, qtype, qclass = spec["source"].rsplit("-", 2)
        proto, port = proto_port.split("/", 1)
        int(port)
    elif rt == "HTTP_CLIENT_HEADER":
        nmap_decode_data(value)
        if spec.get("source") in {"AUTHORIZATION", "PROXY-AUTHORIZATION"} and value:
            authtype = value.split(None, 1)[0]
            data = value.split(None, 1)
            if authtype.lower() == "basic" and data[1:]:
                # _getinfos_http_client_authorization: user and password
                user, _, pw = base64.b64decode(data[1].strip().encode()).partition(b":")
                spec.setdefault("infos", {}).update(username=user.decode("latin-1"), password=pw.decode("latin-1"))
            elif authtype.lower() in {"ntlm", "negotiate"} and data[1:]:
                # ntlm._is_ntlm_message then _prepare_rec_ntlm: base64 NTLMSSP
                msg = base64.b64decode(data[1].strip().encode())
                if not msg.startswith(b"NTLMSSP\x00"):
                    raise ImportError_(f"not an NTLMSSP message: {spec!r}")
    elif rt == "SSH_CLIENT":
        nmap_decode_data(value)
    elif rt == "SSH_CLIENT_ALGOS":
        if spec.get("source") not in {"kex_algorithms", "server_host_key_algorithms", "encryption_algorithms",
                                      "mac_algorithms", "compression_algorithms"}:
            raise ImportError_(f"SSH_CLIENT_ALGOS source {spec.get('source')!r}")
    elif rt == "SSH_CLIENT_HASSH":
        # raw kept in infos, the value is its MD5
        if len(value.split(";")) != 4:
            raise ImportError_(f"HASSH string {value!r}")
        spec.setdefault("infos", {})["raw"] = value
        spec["value"] = hashlib.md5(value.encode()).hexdigest()
    elif rt == "SSL_CLIENT" and spec.get("source") == "ja3":
        if MD5.search(value) is None:
            spec.setdefault("infos", {})["raw"] = value
            spec["value"] = hashlib.md5(value.encode()).hexdigest()
        if not re.match(r"^\d+,[\d-]*,[\d-]*,[\d-]*,[\d-]*$", spec["infos"]["raw"]):
            raise ImportError_(f"JA3 string {value!r}")
    elif rt == "SSL_CLIENT" and spec.get("source") == "ja4":
        if JA4_RAW.search(value) is None and JA4.search(value) is None:
            raise ImportError_(f"Incorrect value for JA4 in record {spec!r}")  # LOGGER.warning
    elif rt in {"NTLM_NEGOTIATE", "NTLM_AUTHENTICATE"}:
        check_ntlm_value(value, spec)
        spec["source"].split("-", 1)
    elif rt == "NTLM_CLIENT_FLAGS":
        k, v = value.split(":", 1)
        if k != "ntlm-fingerprint" or not re.match("^0x[0-9a-f]{8}$", v):
            raise ImportError_(f"NTLM flags {value!r}")
    elif rt in {"FTP_CLIENT", "POP_CLIENT"}:
        if spec.get("source") not in {"USER", "PASS"}:
            raise ImportError_(f"{rt} source {spec.get('source')!r}")
        nmap_decode_data(value)
    elif rt == "AUTH_CLIENT":
        # masscanned's own type: IVRE imports it as is (no _prepare_rec
        # branch, no getinfos function)
        if not re.match(r"^[A-Z0-9]+-(USER|PASS|HASH-.+)$", spec.get("source", "")):
            raise ImportError_(f"AUTH_CLIENT source {spec.get('source')!r}")
        nmap_decode_data(value)
    else:
        raise ImportError_(f"unexpected recon type {rt!r}")
    return spec


def main():
    path = sys.argv[1]
    with open(path, "rb") as f:
        if f.read(1) != b"{":  # passiverecon2db: b"{" -> JSON lines, b"#" -> zeek TSV
            print(json.dumps({"error": "file is invalid (first byte is not '{')"}))
            sys.exit(1)
    by_type = {}
    specs = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = json.loads(raw)
                line["timestamp"] = line.pop("ts")
                if not isinstance(line["timestamp"], (int, float)):
                    raise ImportError_("ts is not a number")
                if not line["recon_type"].startswith("PassiveRecon::"):
                    raise ImportError_("recon_type without PassiveRecon::")
                line["recon_type"] = line["recon_type"][14:]
                ts, spec = handle_rec(**line)
                spec = prepare(spec)
                spec["uid"] = line.get("uid")
            except Exception as exc:  # noqa: BLE001
                print(json.dumps({"error": f"line {n}: {exc!r}", "line": raw.decode("utf-8", "replace")}))
                sys.exit(1)
            by_type[spec["recontype"]] = by_type.get(spec["recontype"], 0) + 1
            specs.append(spec)
    print(json.dumps({"records": len(specs), "by_type": by_type, "records_list": specs}))


if __name__ == "__main__":
    main()
