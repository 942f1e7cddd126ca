"""Authentication of the demo SIS: OAuth 2.0 client credentials and OAuth 1.0a.

OAuth 1.0a is verified with oauthlib's RFC 5849 helpers over the exact URL and query the
client sent, because signature bugs (encoding, parameter order, ports) are what real
integrations trip over, and a lenient server would hide them. Nonces are remembered so a
replayed request fails like it would against a real SIS.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import unquote_plus

from oauthlib.oauth1.rfc5849 import signature, utils

TIMESTAMP_WINDOW = 300  # seconds of clock skew tolerated, as SIS vendors do
_SIGNERS = {
    "HMAC-SHA256": signature.sign_hmac_sha256_with_client,
    "HMAC-SHA1": signature.sign_hmac_sha1_with_client,
}


@dataclass
class AuthFailure:
    """Why a request is refused: answered 401 with a OneRoster error body."""

    description: str
    challenge: str = 'Bearer realm="demo-sis"'
    minor: str = "unauthorisedrequest"


class Authenticator:
    """Issues bearer tokens and checks each data request's credentials."""

    def __init__(
        self, client_id, client_secret, token_lifetime=3600, oauth1=True, oauth1_sha1_only=False
    ):
        self.client_id, self.client_secret = client_id, client_secret
        self.token_lifetime = int(token_lifetime)
        self.oauth1 = oauth1
        self.oauth1_methods = {"HMAC-SHA1"} if oauth1_sha1_only else {"HMAC-SHA256"}
        self._tokens: dict[str, float] = {}
        self._nonces: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self.tokens_issued = 0

    # -- OAuth 2.0 ---------------------------------------------------------------------------
    def issue_token(self, request) -> tuple[int, dict]:
        """Answer a token request: client credentials by HTTP Basic or form fields."""
        params = {**request.args.to_dict(), **request.form.to_dict()}
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                raw = base64.b64decode(header[6:].strip()).decode("utf-8")
            except ValueError:
                raw = ""
            user, _, password = raw.partition(":")
            client_id, client_secret = unquote_plus(user), unquote_plus(password)
        if params.get("grant_type") != "client_credentials":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "use client_credentials",
            }
        if not (
            client_id == self.client_id
            and client_secret is not None
            and secrets.compare_digest(client_secret.encode(), self.client_secret.encode())
        ):
            return 401, {
                "error": "invalid_client",
                "error_description": "wrong client id or secret",
            }
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._tokens = {
                t: at for t, at in self._tokens.items() if now - at < self.token_lifetime
            }
            self._tokens[token] = now
            self.tokens_issued += 1
        body = {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime}
        if params.get("scope"):
            body["scope"] = params["scope"]
        return 200, body

    def _check_bearer(self, token: str, token_expiry) -> AuthFailure | None:
        issued = self._tokens.get(token)
        if issued is None:
            return AuthFailure("invalid access token", 'Bearer error="invalid_token"')
        age = time.monotonic() - issued
        limit = (
            self.token_lifetime if token_expiry is None else min(self.token_lifetime, token_expiry)
        )
        if age >= limit:
            return AuthFailure("access token expired", 'Bearer error="invalid_token"')
        return None

    # -- dispatch ----------------------------------------------------------------------------
    def check(self, request, token_expiry=None) -> AuthFailure | None:
        """None when the request carries valid credentials, else why not."""
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "bearer" and rest.strip():
            return self._check_bearer(rest.strip(), token_expiry)
        if scheme.lower() == "oauth" or "oauth_signature" in request.args:
            if not self.oauth1:
                return AuthFailure("OAuth 1.0a is not enabled on this server")
            return self._check_oauth1(request, header if scheme.lower() == "oauth" else None)
        return AuthFailure("missing credentials: send a bearer token or an OAuth 1.0a signature")

    # -- OAuth 1.0a --------------------------------------------------------------------------
    def _check_oauth1(self, request, header: str | None) -> AuthFailure | None:
        challenge = 'OAuth realm="demo-sis"'
        try:
            if header:
                oauth = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
            else:
                oauth = {k: v for k, v in request.args.items() if k.startswith("oauth_")}
        except ValueError:
            return AuthFailure("malformed OAuth header", challenge)
        missing = {
            "oauth_consumer_key",
            "oauth_signature_method",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
        } - oauth.keys()
        if missing:
            return AuthFailure(f"missing OAuth parameters: {', '.join(sorted(missing))}", challenge)
        if oauth["oauth_consumer_key"] != self.client_id:
            return AuthFailure("unknown OAuth consumer key", challenge)
        method = oauth["oauth_signature_method"]
        if method not in self.oauth1_methods:
            allowed = ", ".join(sorted(self.oauth1_methods))
            return AuthFailure(f"signature method {method} not accepted (use {allowed})", challenge)
        try:
            stamp = int(oauth["oauth_timestamp"])
        except ValueError:
            return AuthFailure("oauth_timestamp is not an integer", challenge)
        now = time.time()
        if abs(now - stamp) > TIMESTAMP_WINDOW:
            return AuthFailure(
                f"oauth_timestamp out of range: {stamp} is more than {TIMESTAMP_WINDOW} s from server time {int(now)}",
                challenge,
            )
        try:
            params = signature.collect_parameters(
                uri_query=request.query_string.decode("latin-1"),
                headers={"Authorization": header} if header else None,
                exclude_oauth_signature=True,
            )
        except ValueError as error:
            return AuthFailure(f"cannot read signed parameters: {error}", challenge)
        base = signature.signature_base_string(
            request.method.upper(),
            signature.base_string_uri(request.base_url),
            signature.normalize_parameters(params),
        )
        client = SimpleNamespace(client_secret=self.client_secret, resource_owner_secret="")
        if not signature.safe_string_equals(
            _SIGNERS[method](base, client), oauth["oauth_signature"]
        ):
            return AuthFailure("invalid OAuth signature", challenge)
        key = (oauth["oauth_consumer_key"], oauth["oauth_nonce"])
        with self._lock:
            if key in self._nonces:
                return AuthFailure("oauth_nonce already used (replayed request)", challenge)
            if len(self._nonces) > 10000:
                self._nonces = {
                    k: t for k, t in self._nonces.items() if now - t < 2 * TIMESTAMP_WINDOW
                }
            self._nonces[key] = now
        return None
