"""HTTP connections that refuse to talk to a non-public address, checked on the socket.

``urls.check_url`` resolves the host before a request, but urllib3 resolves it again
when it connects; a DNS server that answers with a public address for the check and a
private one for the connection (DNS rebinding) would otherwise reach the internal
network with the SIS credentials. These connection classes look at the address the
socket is actually connected to, before a byte (a TLS hello, a request line, a secret) is
sent, and refuse it with ``AddressRefused``. The transport mounts them on every session
unless the deployment allows private SIS URLs.
"""

from __future__ import annotations

import ipaddress

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .deadline import Watched, WatchedAdapter
from .urls import refusal_reason


class AddressRefused(Exception):  # noqa: N818 - not an OSError on purpose: urllib3 must not retry it
    """The connection reached an address we must not talk to; nothing was sent."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"{host} connected to a {reason} address ({address})")
        self.host = host
        self.address = address
        self.reason = reason


class _PublicPeer:
    def _new_conn(self):
        sock = super()._new_conn()
        address = str(sock.getpeername()[0]).split("%", 1)[0]
        reason = refusal_reason(ipaddress.ip_address(address))
        if reason:
            sock.close()
            raise AddressRefused(self.host, address, reason)
        return sock


class PublicHTTPConnection(Watched, _PublicPeer, HTTPConnection):
    pass


class PublicHTTPSConnection(Watched, _PublicPeer, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = PublicHTTPSConnection


class PublicOnlyAdapter(WatchedAdapter):
    """A requests adapter whose pools only connect to public addresses."""

    pool_classes = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}
