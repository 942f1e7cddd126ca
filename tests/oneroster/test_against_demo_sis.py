"""The client over real HTTP against the demo SIS: both versions, both auth modes,
every collection, per-school reads, faults. No mocks between client and server."""

import pytest

from sisapp.demo_sis import DemoSISServer, DistrictSpec, Faults, generate_district
from sisapp.oneroster import ConnectionSettings, ErrorCode, OneRosterClient, OneRosterError


@pytest.fixture(scope="module")
def district():
    return generate_district(DistrictSpec(schools=3, students=150, seed=11))


@pytest.fixture
def server(district):
    with DemoSISServer(district, faults=Faults(seed=1)) as running:
        yield running


def _client(server, *, oauth2: bool, version: str | None = None, **extra) -> OneRosterClient:
    endpoint = server.base_url(version) if version else server.root_url
    settings = ConnectionSettings(
        endpoint_url=endpoint,
        client_id=server.client_id,
        client_secret=server.client_secret,
        token_url=server.token_url if oauth2 else None,
        allow_private=True,
        page_size=extra.pop("page_size", 50),
        **extra,
    )
    client = OneRosterClient(settings)
    client._sleep = lambda seconds: None
    return client


@pytest.mark.parametrize("oauth2", [True, False], ids=["oauth2", "oauth1"])
@pytest.mark.parametrize("version", ["v1p1", "v1p2"])
def test_reads_every_collection_in_full(server, district, oauth2, version):
    client = _client(server, oauth2=oauth2, version=version)
    assert [s.sourced_id for s in client.schools()] == [s["sourcedId"] for s in district.schools]
    for method, name in [
        (client.users, "users"),
        (client.classes, "classes"),
        (client.enrollments, "enrollments"),
        (client.academic_sessions, "academicSessions"),
        (client.courses, "courses"),
    ]:
        ids = [record.sourced_id for record in method()]
        assert ids == [r["sourcedId"] for r in district.collection(name)], name
    assert client.version == version
    assert client.auth_mode == ("oauth2" if oauth2 else "oauth1-hmac-sha256")


def test_discovers_v1p2_from_the_server_root_and_checks(server, district):
    check = _client(server, oauth2=True).check()
    assert check.ok and check.version == "v1p2" and check.auth == "oauth2"
    assert check.schools == len(district.schools)


def test_per_school_reads_partition_the_district(server, district):
    client = _client(server, oauth2=True)
    per_school = []
    for school in client.schools():
        per_school += [e.sourced_id for e in client.enrollments(school_id=school.sourced_id)]
    assert sorted(per_school) == sorted(r["sourcedId"] for r in district.collection("enrollments"))


def test_survives_500s_429s_capped_pages_and_expiring_tokens(server, district):
    server.faults.error_rate = 0.1
    server.faults.rate_limit_rate = 0.1
    server.faults.max_page_size = 30
    server.faults.token_expiry = 1
    client = _client(server, oauth2=True, page_size=100, concurrency=3)
    ids = [u.sourced_id for u in client.users()]
    assert ids == [r["sourcedId"] for r in district.collection("users")]
    assert client.retries > 0


def test_wrong_secret_is_bad_credentials_without_leaking_it(server):
    settings = ConnectionSettings(
        endpoint_url=server.root_url,
        client_id=server.client_id,
        client_secret="wrong-secret-value",
        token_url=server.token_url,
        allow_private=True,
    )
    check = OneRosterClient(settings).check()
    assert not check.ok and check.error_code == ErrorCode.BAD_CREDENTIALS.value
    assert "wrong-secret-value" not in check.message


def test_broken_school_raises_school_read_failed(server, district):
    broken = district.schools[1]["sourcedId"]
    server.faults.broken_school = broken
    client = _client(server, oauth2=True)
    with pytest.raises(OneRosterError) as info:
        list(client.classes(school_id=broken))
    assert info.value.code == ErrorCode.SCHOOL_READ_FAILED
    assert info.value.school_id == broken
