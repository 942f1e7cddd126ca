"""URL handling: where the OneRoster base is, and which hosts we may talk to.

The endpoint and token URLs are typed by an admin into a web form and then fetched by
the server. Without checks that is a server-side request forgery hole: an admin (or an
attacker with an admin session) could point the app at cloud metadata (169.254.169.254),
at localhost services or at the internal network. So URLs must be https and resolve only
to public addresses, unless the deployment explicitly allows private ones for
development (the demo SIS runs on 127.0.0.1).

The check resolves the host itself, and urllib3 resolves it again when connecting; a
DNS server that changes its answer in between (rebinding) is stopped by the connection
classes of ``public_only``, which check the address the socket is connected to.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit, urlunsplit

from .errors import ErrorCode, OneRosterError

Resolver = Callable[..., list]

_BASE_RE = re.compile(
    r"^(?P<root>.*?)/ims/oneroster(?P<rest>/rostering)?/(?P<version>v1p[12])(/.*)?$"
)
_ROOT_RE = re.compile(r"^(?P<root>.*?)/ims/oneroster(/rostering)?/?$")

BASE_PATHS = {
    "v1p2": "/ims/oneroster/rostering/v1p2",
    "v1p1": "/ims/oneroster/v1p1",
}


def split_endpoint(url: str) -> tuple[str, str | None, str | None]:
    """Return ``(root, version, base)`` for an endpoint URL as an admin typed it.

    ``base`` and ``version`` are None when the URL does not name a version (server root or
    vendor prefix); the client then discovers them. Query and fragment are dropped.
    """
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    origin = urlunsplit((parts.scheme.lower(), parts.netloc, "", "", ""))
    match = _BASE_RE.match(path)
    if match:
        root = origin + match.group("root")
        base_path = path[: match.end("version")]
        return root, match.group("version"), origin + base_path
    match = _ROOT_RE.match(path)
    if match:
        return origin + match.group("root"), None, None
    return origin + path, None, None


def base_for(root: str, version: str) -> str:
    """The standard OneRoster base URL under ``root`` for ``version``."""
    return root.rstrip("/") + BASE_PATHS[version]


def path_of(url: str) -> str:
    """Path part of a URL, the only part of it put in messages and logs."""
    return urlsplit(url).path or "/"


def same_origin(a: str, b: str) -> bool:
    """True when both URLs have the same host and port (scheme may be upgraded)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname or "").lower() == (pb.hostname or "").lower() and _port(pa) == _port(pb)


def _port(parts) -> int | None:
    if parts.port:
        return parts.port
    return {"http": 80, "https": 443}.get(parts.scheme)


def resolve_link(current_url: str, link: str) -> str:
    """Absolute URL of a Link header target (which may be relative)."""
    return urljoin(current_url, link)


def refusal_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not allowed, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for flag, label in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_private", "private"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
    ):
        if getattr(address, flag):
            return label
    if not address.is_global:
        return "non-public"
    return None


def check_url(
    url: str, *, allow_private: bool, label: str, resolve: Resolver = socket.getaddrinfo
) -> None:
    """Refuse a URL we must not fetch; raise ``URL_NOT_ALLOWED`` or ``UNREACHABLE``."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise OneRosterError(ErrorCode.URL_NOT_ALLOWED, f"The {label} is not a valid URL.")
    if parts.scheme != "https" and not allow_private:
        raise OneRosterError(
            ErrorCode.URL_NOT_ALLOWED,
            f"The {label} must use https:// (plain http is only allowed for local development).",
        )
    if allow_private:
        return
    try:
        infos = resolve(host, _port(parts), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OneRosterError(
            ErrorCode.UNREACHABLE,
            f"The host {host} of the {label} could not be resolved (DNS).",
            detail=str(exc),
        ) from None
    if not infos:
        raise OneRosterError(
            ErrorCode.UNREACHABLE, f"The host {host} of the {label} has no address."
        )
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]
        try:
            address = ipaddress.ip_address(raw)
        except ValueError:
            raise OneRosterError(
                ErrorCode.URL_NOT_ALLOWED, f"The host {host} resolved to an unusable address."
            ) from None
        reason = refusal_reason(address)
        if reason:
            raise OneRosterError(
                ErrorCode.URL_NOT_ALLOWED,
                f"The {label} host {host} resolves to a {reason} address ({address}); "
                "only public addresses are allowed.",
            )
