"""OAuth 1.0a and OAuth 2.0 for OneRoster, with the fallbacks real SIS need.

Both authenticators answer the same three calls from the transport: ``prepare()`` for
each attempt, ``retry_unauthorized()`` on the first 401 (may the request be tried once
more?) and ``unauthorized_error()`` for the coded error when it may not.

- OAuth 2.0 client credentials: a token is fetched lazily, shared by all threads and
  reused until shortly before it expires; a 401 mid-run drops it so the retry fetches a
  new one (a four-hour sync outlives several tokens). Client authentication starts with
  HTTP Basic and falls back to form fields when the token URL answers ``invalid_client``;
  refused scopes fall back to narrower ones, then to none.
- OAuth 1.0a two-legged: HMAC-SHA256 first (the spec's choice), HMAC-SHA1 after a 401
  because some SIS only accept SHA1; the working method is remembered.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable
from urllib.parse import parse_qsl

from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_HMAC_SHA256
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth1

from .errors import ErrorCode, OneRosterError, describe_error_body
from .settings import ConnectionSettings
from .urls import path_of

SCOPE_ROOT = "https://purl.imsglobal.org/spec/or/{version}/scope/"
_CLOCK_WORDS = re.compile(r"timestamp|nonce|clock|skew", re.IGNORECASE)
# OAuth parameters a server echoes back (its copy of our header or signature base string):
# their names say nothing about what went wrong.
_ECHOED_PARAMS = re.compile(r"oauth_\w+\s*(?:=|%3D)[^\s,&]*", re.IGNORECASE)
_SIGNATURE_WORDS = re.compile(r"signature", re.IGNORECASE)
_CLIENT_ERRORS = {"invalid_client", "unauthorized_client", "access_denied"}
_BEARER = re.compile(r"(?:^|,)\s*bearer\b", re.IGNORECASE)
_OAUTH1_CHALLENGE = re.compile(r"(?:^|,)\s*oauth\b", re.IGNORECASE)
# RFC 6749/6750 error codes: a body carrying one is an OAuth 2.0 server talking.
_OAUTH2_ERRORS = {"invalid_token", "invalid_request", "insufficient_scope", *_CLIENT_ERRORS}
_SCOPE_ERRORS = {"invalid_scope", "insufficient_scope"}


def scopes_for(version: str) -> list[str]:
    """The read scopes the client needs: core data plus the nested endpoints."""
    root = SCOPE_ROOT.format(version=version)
    return [root + "roster-core.readonly", root + "roster.readonly"]


def wants_oauth2(response) -> bool:
    """A 401 that asks for a bearer token, or an OAuth 2.0 error body, not an OAuth 1.0a one."""
    challenge = response.headers.get("WWW-Authenticate", "")
    if _BEARER.search(challenge) and not _OAUTH1_CHALLENGE.search(challenge):
        return True
    try:
        data = json.loads(response.text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("error") in _OAUTH2_ERRORS


def _said(transport, response) -> str:
    said = transport.redact(describe_error_body(response.text))
    return f" The SIS said: {said}" if said else ""


class OAuth1Auth:
    """Two-legged OAuth 1.0a: consumer key and secret sign every request."""

    def __init__(self, settings: ConnectionSettings, transport) -> None:
        self.settings = settings
        self.transport = transport
        self.explicit = settings.oauth1_signature is not None
        self.method = settings.oauth1_signature or SIGNATURE_HMAC_SHA256
        self._lock = threading.Lock()

    @property
    def mode(self) -> str:
        return "oauth1-hmac-sha1" if self.method == SIGNATURE_HMAC_SHA1 else "oauth1-hmac-sha256"

    def prefer_version(self, version: str) -> None:
        """OAuth 1.0a signatures do not depend on the OneRoster version."""

    def prepare(self) -> tuple[dict, OAuth1, str]:
        method = self.method
        auth = OAuth1(
            self.settings.client_id,
            client_secret=self.settings.client_secret,
            signature_method=method,
            signature_type="auth_header",
        )
        return {}, auth, method

    @staticmethod
    def _complaint(response) -> str:
        text = response.text[:2000] + " " + response.headers.get("WWW-Authenticate", "")
        return _ECHOED_PARAMS.sub(" ", text)

    def retry_unauthorized(self, response, method: str) -> bool:
        """Switch to HMAC-SHA1 after a 401 on HMAC-SHA256, unless the clock is to blame
        or the server wants OAuth 2.0."""
        if _CLOCK_WORDS.search(self._complaint(response)) or wants_oauth2(response):
            return False
        with self._lock:
            if self.method != method:
                return True  # another thread already switched
            if self.explicit or method != SIGNATURE_HMAC_SHA256:
                return False
            self.method = SIGNATURE_HMAC_SHA1
        self.transport.log("OAuth 1.0a HMAC-SHA256 refused; trying HMAC-SHA1")
        return True

    def unauthorized_error(self, response, method: str, path: str) -> OneRosterError:
        complaint = self._complaint(response)
        said = _said(self.transport, response)
        if wants_oauth2(response):
            return OneRosterError(
                ErrorCode.OAUTH2_REQUIRED,
                "The SIS wants OAuth 2.0 (it asked for an access token), but no token URL is "
                "entered, so OAuth 1.0a was tried. Enter the SIS's OAuth 2.0 Token URL in the "
                "connection settings." + said,
                status=401,
                path=path,
            )
        if _CLOCK_WORDS.search(complaint):
            return OneRosterError(
                ErrorCode.CLOCK_SKEW,
                "The SIS rejected the request's timestamp or nonce; check this server's clock."
                + said,
                status=401,
                path=path,
            )
        with self._lock:
            if not self.explicit and method == SIGNATURE_HMAC_SHA1:
                self.method = SIGNATURE_HMAC_SHA256  # neither worked: SHA1 is not "known"
        if _SIGNATURE_WORDS.search(complaint):
            return OneRosterError(
                ErrorCode.SIGNATURE_INVALID,
                "The SIS rejected the OAuth 1.0a signature (tried HMAC-SHA256 and HMAC-SHA1); "
                "check the client secret." + said,
                status=401,
                path=path,
            )
        return OneRosterError(
            ErrorCode.BAD_CREDENTIALS,
            "The SIS refused the client ID or secret (OAuth 1.0a)." + said,
            status=401,
            path=path,
        )


class OAuth2Auth:
    """OAuth 2.0 client credentials with a shared, lazily refreshed bearer token."""

    mode = "oauth2"

    def __init__(self, settings: ConnectionSettings, transport, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.transport = transport
        self.clock = clock
        self.token_url = settings.token_url_or_none
        self.version: str | None = settings.version
        self.client_auth = "basic"  # or "form", learnt from invalid_client answers
        self.tokens_fetched = 0
        self._token: str | None = None
        self._token_version: str | None = None
        self._expires_at = 0.0
        self._generation = 0
        self._lock = threading.Lock()

    # --- token lifecycle --------------------------------------------------------------

    def prefer_version(self, version: str) -> None:
        """Ask for this version's scopes from now on (drops a token scoped for the other)."""
        with self._lock:
            self.version = version
            if self.settings.scopes is None and self._token and self._token_version != version:
                self._token = None

    def prepare(self) -> tuple[dict, None, int]:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at:
                self._fetch_token()
            return {"Authorization": f"Bearer {self._token}"}, None, self._generation

    def retry_unauthorized(self, response, generation: int) -> bool:
        """Drop the token that was refused (unless already replaced) and retry once."""
        with self._lock:
            if generation == self._generation:
                self._token = None
        self.transport.log("access token refused (HTTP 401); fetching a new token")
        return True

    def unauthorized_error(self, response, generation: int, path: str) -> OneRosterError:
        return OneRosterError(
            ErrorCode.BAD_CREDENTIALS,
            "The SIS issued a token but refused it for OneRoster data; check the application's "
            "access in the SIS." + _said(self.transport, response),
            status=401,
            path=path,
        )

    def _scope_candidates(self) -> list[list[str] | None]:
        if self.settings.scopes is not None:
            return [list(self.settings.scopes) or None]
        version = self.version or "v1p2"
        both = scopes_for(version)
        candidates: list[list[str] | None] = [both, [both[1]]]
        if self.version is None:
            candidates.append(scopes_for("v1p1"))
        candidates.append(None)
        return candidates

    def _fetch_token(self) -> None:
        """Fetch a token (caller holds the lock), trying Basic/form auth and scope fallbacks."""
        url = self.token_url
        path = path_of(url)
        candidates = self._scope_candidates()
        index = 0
        switched_auth = False
        while True:
            scopes = candidates[index]
            response = self._post_token(url, scopes)
            status = response.status_code
            said = _said(self.transport, response)
            error, data = self._oauth_error(response)
            if 200 <= status < 300 and error is None:
                self._accept_token(response, data, path)
                return
            if error in _SCOPE_ERRORS and index + 1 < len(candidates):
                index += 1
                self.transport.log(
                    f"token URL refused the scope; trying {candidates[index] or 'no scope'}"
                )
                continue
            if error in _SCOPE_ERRORS:
                raise OneRosterError(
                    ErrorCode.FORBIDDEN_SCOPE,
                    "The token URL refused every OneRoster read scope." + said,
                    status=status,
                    path=path,
                )
            client_refused = error in _CLIENT_ERRORS or (status == 401 and error is None)
            if client_refused and not switched_auth:
                switched_auth = True
                self.client_auth = "form" if self.client_auth == "basic" else "basic"
                self.transport.log(
                    f"token URL refused the client; trying {self.client_auth} client auth"
                )
                continue
            if client_refused or status in (401, 403):
                raise OneRosterError(
                    ErrorCode.BAD_CREDENTIALS,
                    "The token URL refused the client ID or secret." + said,
                    status=status,
                    path=path,
                )
            if status == 404 or status == 405:
                message = "The token URL was not found; check it."
            elif 200 <= status < 300:
                message = "The token URL answered without an access token."
            else:
                message = "The token URL did not issue a token."
            raise OneRosterError(
                ErrorCode.TOKEN_URL_FAILED, message + said, status=status, path=path
            )

    def _post_token(self, url: str, scopes: list[str] | None):
        client = BackendApplicationClient(client_id=self.settings.client_id)
        form = self.client_auth == "form"
        kwargs = {"client_secret": self.settings.client_secret} if form else {}
        body = client.prepare_request_body(scope=scopes, include_client_id=form, **kwargs)
        data = dict(parse_qsl(body))
        basic = (
            None if form else HTTPBasicAuth(self.settings.client_id, self.settings.client_secret)
        )

        def prepare():
            return {"Content-Type": "application/x-www-form-urlencoded"}, basic

        try:
            response, _ = self.transport.request(
                "POST", url, prepare=prepare, data=data, label="token URL"
            )
        except OneRosterError as exc:
            if exc.code in (ErrorCode.TLS_ERROR, ErrorCode.URL_NOT_ALLOWED, ErrorCode.CANCELLED):
                raise
            raise OneRosterError(
                ErrorCode.TOKEN_URL_FAILED,
                f"The token URL failed: {exc.message}",
                status=exc.status,
                path=exc.path,
                detail=exc.code.value,
            ) from None
        return response

    @staticmethod
    def _oauth_error(response) -> tuple[str | None, dict | None]:
        try:
            data = json.loads(response.text)
        except ValueError:
            return None, None
        if not isinstance(data, dict):
            return None, None
        error = data.get("error")
        return (str(error) if error else None), data

    def _accept_token(self, response, data: dict | None, path: str) -> None:
        if data is None or not data.get("access_token"):
            raise OneRosterError(
                ErrorCode.TOKEN_URL_FAILED,
                "The token URL answered without an access token (is it the right URL?).",
                status=response.status_code,
                path=path,
            )
        client = BackendApplicationClient(client_id=self.settings.client_id)
        try:
            client.parse_request_body_response(response.text)  # oauthlib's validation
        except (OAuth2Error, ValueError, Warning) as exc:
            raise OneRosterError(
                ErrorCode.TOKEN_URL_FAILED,
                "The token URL's answer is not valid.",
                status=response.status_code,
                path=path,
                detail=type(exc).__name__,
            ) from None
        try:
            lifetime = float(str(data.get("expires_in")).strip())
        except ValueError:
            lifetime = math.inf  # no lifetime given: reuse it until the SIS refuses it
        margin = min(60.0, lifetime / 2)
        self._token = str(data["access_token"])
        self._token_version = self.version
        self._expires_at = self.clock() + lifetime - margin
        self._generation += 1
        self.tokens_fetched += 1
        self.transport.add_secret(self._token)
