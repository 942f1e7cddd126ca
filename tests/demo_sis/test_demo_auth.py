"""OAuth 2.0 client credentials and OAuth 1.0a signatures against the live server."""

from __future__ import annotations

import time

import requests
from requests_oauthlib import OAuth1

from sisapp.demo_sis import DemoSISServer

V1 = "/ims/oneroster/v1p1"


def _oauth1(server, method="HMAC-SHA256", secret=None, **kwargs):
    return OAuth1(
        server.client_id,
        client_secret=secret or server.client_secret,
        signature_method=method,
        **kwargs,
    )


def _description(response) -> str:
    return response.json()["imsx_description"]


def test_unauthenticated_requests_get_401_with_oneroster_body(server):
    answer = requests.get(server.root_url + V1 + "/users", timeout=5)
    assert answer.status_code == 401
    assert answer.json()["imsx_codeMajor"] == "failure"
    assert "WWW-Authenticate" in answer.headers
    bad = requests.get(
        server.root_url + V1 + "/users", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert bad.status_code == 401 and "invalid" in _description(bad)


def test_token_by_basic_auth_and_by_form(server):
    basic = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials", "scope": "x"},
        auth=(server.client_id, server.client_secret),
        timeout=5,
    )
    assert basic.status_code == 200
    body = basic.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["access_token"]
    form = requests.post(
        server.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": server.client_id,
            "client_secret": server.client_secret,
        },
        timeout=5,
    )
    assert form.status_code == 200
    query = requests.post(
        server.token_url,
        params={"grant_type": "client_credentials"},
        auth=(server.client_id, server.client_secret),
        timeout=5,
    )
    assert query.status_code == 200
    data = requests.get(
        server.root_url + V1 + "/orgs",
        headers={"Authorization": "Bearer " + form.json()["access_token"]},
        timeout=5,
    )
    assert data.status_code == 200


def test_wrong_credentials_and_grant(server):
    wrong = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(server.client_id, "wrong"),
        timeout=5,
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    who = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials"},
        auth=("someone", server.client_secret),
        timeout=5,
    )
    assert who.status_code == 401
    grant = requests.post(
        server.token_url,
        data={"grant_type": "password"},
        auth=(server.client_id, server.client_secret),
        timeout=5,
    )
    assert grant.status_code == 400
    assert requests.get(server.token_url, timeout=5).status_code == 405


def test_token_lifetime_is_configurable(district):
    with DemoSISServer(district, token_lifetime=1) as server:
        token = requests.post(
            server.token_url,
            data={"grant_type": "client_credentials"},
            auth=(server.client_id, server.client_secret),
            timeout=5,
        ).json()
        assert token["expires_in"] == 1
        headers = {"Authorization": "Bearer " + token["access_token"]}
        assert (
            requests.get(server.root_url + V1 + "/orgs", headers=headers, timeout=5).status_code
            == 200
        )
        time.sleep(1.1)  # the live server's token clock is real time
        expired = requests.get(server.root_url + V1 + "/orgs", headers=headers, timeout=5)
        assert expired.status_code == 401 and "expired" in _description(expired)


def test_oauth1_hmac_sha256_signed_requests(server, district):
    url = server.root_url + V1 + "/enrollments"
    school = district.schools[0]["sourcedId"]
    params = {
        "limit": 7,
        "offset": 3,
        "filter": f"school.sourcedId='{school}' AND dateLastModified>'2000-01-01T00:00:00Z'",
    }
    answer = requests.get(url, params=params, auth=_oauth1(server), timeout=5)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["enrollments"]) == 7
    v2 = requests.get(
        server.root_url + "/ims/oneroster/rostering/v1p2/users/" + district.users[0]["sourcedId"],
        auth=_oauth1(server),
        timeout=5,
    )
    assert v2.status_code == 200


def test_oauth1_rejections(server):
    url = server.root_url + V1 + "/orgs"
    assert requests.get(url, auth=_oauth1(server, secret="wrong"), timeout=5).status_code == 401
    sha1 = requests.get(url, auth=_oauth1(server, "HMAC-SHA1"), timeout=5)
    assert sha1.status_code == 401 and "HMAC-SHA1" in _description(sha1)
    stale = requests.get(
        url, auth=_oauth1(server, timestamp=str(int(time.time()) - 600)), timeout=5
    )
    assert stale.status_code == 401 and "timestamp" in _description(stale)
    other = OAuth1(
        "someone-else", client_secret=server.client_secret, signature_method="HMAC-SHA256"
    )
    assert requests.get(url, auth=other, timeout=5).status_code == 401


def test_oauth1_nonce_replay_is_rejected(server):
    with requests.Session() as session:
        prepared = session.prepare_request(
            requests.Request(
                "GET", server.root_url + V1 + "/orgs", params={"limit": 2}, auth=_oauth1(server)
            )
        )
        assert session.send(prepared, timeout=5).status_code == 200
        replay = session.send(prepared, timeout=5)
        assert replay.status_code == 401 and "nonce" in _description(replay)
    again = requests.get(
        server.root_url + V1 + "/orgs", auth=_oauth1(server, nonce="fixed-nonce-1"), timeout=5
    )
    assert again.status_code == 200
    reused = requests.get(
        server.root_url + V1 + "/schools", auth=_oauth1(server, nonce="fixed-nonce-1"), timeout=5
    )
    assert reused.status_code == 401 and "nonce" in _description(reused)


def test_oauth1_sha1_only_when_configured(district):
    with DemoSISServer(district, oauth1_sha1_only=True) as server:
        url = server.root_url + V1 + "/orgs"
        assert requests.get(url, auth=_oauth1(server, "HMAC-SHA1"), timeout=5).status_code == 200
        assert requests.get(url, auth=_oauth1(server), timeout=5).status_code == 401
    with DemoSISServer(district, oauth1=False) as server:
        answer = requests.get(server.root_url + V1 + "/orgs", auth=_oauth1(server), timeout=5)
        assert answer.status_code == 401
