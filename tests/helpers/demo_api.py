"""The demo SIS tests' fixed date, and a session holding a token for a demo server's API."""

from __future__ import annotations

from datetime import date

import requests

TODAY = date(2026, 3, 2)


def bearer_session(server) -> requests.Session:
    """A requests session holding a fresh OAuth2 token for ``server``."""
    answer = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(server.client_id, server.client_secret),
        timeout=5,
    )
    answer.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + answer.json()["access_token"]
    return session
