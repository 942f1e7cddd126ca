"""URL safety: https only, public addresses only, unless private URLs are allowed."""

import socket

import pytest

from sisapp.oneroster import ConnectionSettings, ErrorCode, OneRosterClient, OneRosterError
from sisapp.oneroster.urls import check_url, split_endpoint
from tests.helpers.oneroster import ROOT, SECRET, TOKEN_URL, V11, V12, Collection, users


def resolver_to(*addresses):
    def resolve(host, port, *args, **kwargs):
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [
            (family[6 if ":" in a else 4], socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::",
    ],
)
def test_private_addresses_refused(address):
    with pytest.raises(OneRosterError) as info:
        check_url(
            "https://sis.example.org/x",
            allow_private=False,
            label="endpoint URL",
            resolve=resolver_to(address),
        )
    assert info.value.code is ErrorCode.URL_NOT_ALLOWED
    assert "sis.example.org" in info.value.message


def test_any_private_answer_refuses():
    with pytest.raises(OneRosterError):
        check_url(
            "https://sis.example.org",
            allow_private=False,
            label="endpoint URL",
            resolve=resolver_to("93.184.216.34", "10.0.0.1"),
        )


def test_public_address_allowed():
    check_url(
        "https://sis.example.org",
        allow_private=False,
        label="endpoint URL",
        resolve=resolver_to("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"),
    )


def test_http_refused_unless_private_allowed():
    with pytest.raises(OneRosterError) as info:
        check_url(
            "http://sis.example.org",
            allow_private=False,
            label="endpoint URL",
            resolve=resolver_to("93.184.216.34"),
        )
    assert info.value.code is ErrorCode.URL_NOT_ALLOWED and "https" in info.value.message
    check_url(
        "http://127.0.0.1:5001",
        allow_private=True,
        label="endpoint URL",
        resolve=resolver_to("127.0.0.1"),
    )


def test_dns_failure_is_unreachable():
    def fail(*args, **kwargs):
        raise socket.gaierror("Name or service not known")

    with pytest.raises(OneRosterError) as info:
        check_url("https://nope.invalid", allow_private=False, label="endpoint URL", resolve=fail)
    assert info.value.code is ErrorCode.UNREACHABLE


def test_client_refuses_metadata_endpoint(make_client, requests_mock):
    client = make_client(endpoint_url="https://metadata.example.org/ims/oneroster/v1p1")
    client._resolve = resolver_to("169.254.169.254")
    result = client.check()
    assert result.ok is False and result.error_code == ErrorCode.URL_NOT_ALLOWED.value
    assert requests_mock.call_count == 0


def test_client_refuses_private_token_url(make_client, requests_mock):
    client = make_client(token_url="https://internal.example.org/token")

    def resolve(host, port, *args, **kwargs):
        address = "10.0.0.5" if host.startswith("internal") else "93.184.216.34"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    client._resolve = resolve
    result = client.check()
    assert result.error_code == ErrorCode.URL_NOT_ALLOWED.value and "token URL" in result.message
    assert requests_mock.call_count == 0


def test_allow_private_http_loopback_works_with_oauth1_and_oauth2(requests_mock, monkeypatch):
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    local = "http://127.0.0.1:5001/ims/oneroster/v1p1"
    requests_mock.get(local + "/users", json=Collection(users(2)))
    requests_mock.post("http://127.0.0.1:5001/token", json={"access_token": "t", "expires_in": 60})
    for token_url in (None, "http://127.0.0.1:5001/token"):
        client = OneRosterClient(
            ConnectionSettings(local, "id", SECRET, token_url=token_url, allow_private=True)
        )
        assert len(list(client.users())) == 2
        client.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (ROOT, (ROOT, None, None)),
        (ROOT + "/", (ROOT, None, None)),
        (ROOT + "/district/", (ROOT + "/district", None, None)),
        (ROOT + "/aeries/ims/oneroster", (ROOT + "/aeries", None, None)),
        (V11, (ROOT, "v1p1", V11)),
        (V12 + "/?x=1", (ROOT, "v1p2", V12)),
        (ROOT + "/ims/oneroster/v1p2", (ROOT, "v1p2", ROOT + "/ims/oneroster/v1p2")),
    ],
)
def test_split_endpoint(url, expected):
    assert split_endpoint(url) == expected


def test_invalid_settings_codes():
    for bad in (
        ConnectionSettings("", "id", "s"),
        ConnectionSettings("ftp://x", "id", "s"),
        ConnectionSettings("https://u:p@x.org", "id", "s"),
        ConnectionSettings(V11, "id", "s", version="v2"),
        ConnectionSettings(V11, "id", "s", page_size=0),
        ConnectionSettings(V11, "id", "s", token_url="notaurl"),
    ):
        with pytest.raises(OneRosterError) as info:
            bad.validate()
        assert info.value.code is ErrorCode.INVALID_SETTINGS
    ConnectionSettings(V11, "id", "s", token_url=TOKEN_URL).validate()
