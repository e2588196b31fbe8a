"""
Sends flows as Open vSwitch exports them over IPFIX, through the python-ipfix encoder library (PyPI `ipfix`):
a template with the inner addresses, ports, protocol, counts, times and OVS's tunnelKey (VMware enterprise
6876, element 892: the VXLAN VNI in 3 bytes), then one data record per flow, as UDP datagrams.

Usage: python ipfix-export.py HOST PORT < flows.json
flows.json: [{"start_ms", "end_ms", "src", "dst", "sport", "dport", "proto", "bytes", "packets", "vni"}]
"""
import json
from ipaddress import ip_address
import socket
import sys
from datetime import datetime, timedelta

import ipfix.ie
import ipfix.message
import ipfix.template

OBSERVATION_DOMAIN = 1
TEMPLATE_ID = 256

ipfix.ie.use_iana_default()
TUNNEL_KEY = ipfix.ie.for_spec("tunnelKey(6876/892)<octetArray>[3]")

IES = ipfix.ie.spec_list([
    "flowStartMilliseconds",
    "flowEndMilliseconds",
    "sourceIPv4Address",
    "destinationIPv4Address",
    "sourceTransportPort",
    "destinationTransportPort",
    "protocolIdentifier",
    "octetDeltaCount",
    "packetDeltaCount",
])
IES.append(TUNNEL_KEY)


def utc(ms: int) -> datetime:
    # The library works in naive UTC datetimes (dt2epoch subtracts a naive epoch).
    return datetime(1970, 1, 1) + timedelta(milliseconds=ms)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    flows = json.load(sys.stdin)
    tmpl = ipfix.template.from_ielist(TEMPLATE_ID, IES)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    msg = ipfix.message.MessageBuffer()
    msg.begin_export(OBSERVATION_DOMAIN)
    msg.add_template(tmpl)
    msg.export_ensure_set(TEMPLATE_ID)
    for f in flows:
        msg.export_namedict({
            "flowStartMilliseconds": utc(f["start_ms"]),
            "flowEndMilliseconds": utc(f["end_ms"]),
            "sourceIPv4Address": ip_address(f["src"]),
            "destinationIPv4Address": ip_address(f["dst"]),
            "sourceTransportPort": f["sport"],
            "destinationTransportPort": f["dport"],
            "protocolIdentifier": f["proto"],
            "octetDeltaCount": f["bytes"],
            "packetDeltaCount": f["packets"],
            "tunnelKey": f["vni"].to_bytes(3, "big"),
        })
    sock.sendto(msg.to_bytes(), (host, port))
    print(f"sent {len(flows)} flows", flush=True)


if __name__ == "__main__":
    main()
