"""The demo SIS as a plain WSGI app on werkzeug's threaded server.

Not a Flask app on purpose: it must never be the bottleneck of a sync it serves, so a
request is routed by hand to pre-serialised record bytes (built lazily once per version
and collection) and index lists (per view, school and filter), and a page is a slice and
a ``join``. When the district changes (``revision``), everything is rebuilt lazily.
"""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlencode

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .auth import Authenticator
from .faults import Faults
from .filters import FilterError
from .serialise import V1P1_PATH, V1P2_PATH, Serialiser
from .snapshot import Snapshot, in_view

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
TOKEN_PATHS = ("/oauth/token", "/oauth/access_token")
#: endpoint -> (collection, view, wrapper key of a list, key of one record)
ENDPOINTS = {
    "orgs": ("orgs", None, "orgs", "org"),
    "schools": ("orgs", "school", "orgs", "org"),
    "academicSessions": ("academicSessions", None, "academicSessions", "academicSession"),
    "terms": ("academicSessions", "term", "academicSessions", "academicSession"),
    "gradingPeriods": ("academicSessions", "gradingPeriod", "academicSessions", "academicSession"),
    "courses": ("courses", None, "courses", "course"),
    "classes": ("classes", None, "classes", "class"),
    "users": ("users", None, "users", "user"),
    "students": ("users", "student", "users", "user"),
    "teachers": ("users", "teacher", "users", "user"),
    "enrollments": ("enrollments", None, "enrollments", "enrollment"),
}
SCHOOL_ENDPOINTS = ("classes", "enrollments", "students", "teachers", "courses")


def error_response(status: int, description: str, minor: str, headers=None) -> Response:
    """A OneRoster ``imsx`` error body with the given HTTP status."""
    body = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [
                {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": minor}
            ]
        },
    }
    return Response(json.dumps(body), status, headers, content_type="application/json")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass


class DemoSISServer:
    """A OneRoster v1.1 + v1.2 server for a generated district, on a background thread."""

    def __init__(
        self,
        district,
        faults: Faults | None = None,
        client_id="demo-client",
        client_secret="demo-secret",
        token_lifetime=3600,
        host="127.0.0.1",
        port=0,
        oauth1=True,
        oauth1_sha1_only=False,
        versions=("v1p1", "v1p2"),
        quiet=True,
    ):
        self.district = district
        self.faults = faults or Faults()
        self.client_id, self.client_secret = client_id, client_secret
        self.auth = Authenticator(
            client_id, client_secret, token_lifetime, oauth1, oauth1_sha1_only
        )
        self.versions = tuple(versions)
        self.host, self._port, self.quiet = host, port, quiet
        self._server = self._thread = self._snapshot = None
        self._counter_lock = threading.Lock()
        self._applied_changes: float = 0.0
        self.request_count = 0
        self.busy_seconds = 0.0  # time spent answering, latency faults excluded

    # -- lifecycle ---------------------------------------------------------------------------
    def _bind(self):
        if self._server is None:
            handler = _QuietHandler if self.quiet else WSGIRequestHandler
            self._server = make_server(
                self.host, self._port, self.wsgi_app, threaded=True, request_handler=handler
            )
            self._server.daemon_threads = True
            self._port = self._server.server_port  # a restart keeps the same URLs

    def start(self) -> DemoSISServer:
        """Serve on a daemon thread; returns self."""
        self._bind()
        # A short poll interval keeps stop() (and so every test teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="demo-sis", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until interrupted."""
        self._bind()
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        """Stop serving and release the port (the URLs stay readable)."""
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join(timeout=5)
            self._server.server_close()
        self._server = self._thread = None

    def __enter__(self):
        return self.start() if self._thread is None else self

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self) -> int:
        """The bound port; binding happens here if needed so port 0 resolves early."""
        if not self._port:
            self._bind()
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        return self.root_url + TOKEN_PATHS[0]

    def base_url(self, version="v1p1") -> str:
        return self.root_url + (V1P1_PATH if version == "v1p1" else V1P2_PATH)

    def warm(self, versions=None) -> None:
        """Pre-serialise every record for ``versions`` (default: all served versions)."""
        snap = self.snapshot()
        for version in versions or self.versions:
            for collection in (
                "orgs",
                "academicSessions",
                "courses",
                "classes",
                "users",
                "enrollments",
            ):
                snap.warm(version, collection)

    def snapshot(self) -> Snapshot:
        """Current pre-built material, rebuilt (lazily) after the district changed."""
        snap = self._snapshot
        if snap is None or snap.revision != self.district.revision:
            with self.district.lock:
                snap = self._snapshot
                if snap is None or snap.revision != self.district.revision:
                    snap = self._snapshot = Snapshot(self.district, Serialiser(self.root_url))
        return snap

    # -- WSGI --------------------------------------------------------------------------------
    def wsgi_app(self, environ, start_response):
        started = time.perf_counter()
        request = Request(environ)
        with self._counter_lock:
            self.request_count += 1
        try:
            response, slept = self.dispatch(request)
        except FilterError as error:
            response, slept = error_response(400, str(error), error.minor), 0.0
        with self._counter_lock:
            self.busy_seconds += time.perf_counter() - started - slept
        return response(environ, start_response)

    def dispatch(self, request: Request) -> tuple[Response, float]:
        path = request.path.rstrip("/")
        if path in TOKEN_PATHS:
            if request.method != "POST":
                return error_response(405, "use POST", "invalid_data"), 0.0
            status, body = self.auth.issue_token(request)
            headers = {"Cache-Control": "no-store"}
            if status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="demo-sis"'
            return Response(json.dumps(body), status, headers, content_type="application/json"), 0.0
        version = None
        for name, prefix in (("v1p1", V1P1_PATH), ("v1p2", V1P2_PATH)):
            if (path + "/").startswith(prefix + "/") and name in self.versions:
                version, rest = name, path[len(prefix) :]
        if version is None:
            return error_response(404, f"no such endpoint: {request.path}", "unknownobject"), 0.0
        failure = self.auth.check(request, self.faults.token_expiry)
        if failure is not None:
            headers = {"WWW-Authenticate": failure.challenge}
            return error_response(401, failure.description, failure.minor, headers), 0.0
        faults = self.faults
        slept = 0.0
        if faults.latency_ms:
            slept = faults.latency_ms / 1000
            time.sleep(slept)
        if faults.changed_share and faults.changed_share != self._applied_changes:
            with self.district.lock:
                if faults.changed_share != self._applied_changes:
                    self.district.apply_changes(faults.changed_share, faults.seed)
                    self._applied_changes = faults.changed_share
        rolled = faults.roll()
        if rolled == "429":
            headers = {"Retry-After": str(faults.retry_after)}
            return error_response(429, "server busy, retry later", "server_busy", headers), slept
        if rolled == "500":
            return error_response(500, "injected server error", "internal_server_error"), slept
        if request.method != "GET":
            return error_response(405, "read-only endpoint", "invalid_data"), slept
        return self.route(request, version, [p for p in rest.split("/") if p]), slept

    def route(self, request, version, parts) -> Response:
        snap = self.snapshot()
        broken = self.faults.broken_school_id(self.district.schools)
        if len(parts) == 1 and parts[0] in ENDPOINTS:
            filter_text = request.args.get("filter") or None
            if broken and filter_text and broken in filter_text and "school" in filter_text:
                return error_response(
                    500, f"data of school {broken} is incomplete", "internal_server_error"
                )
            return self.page(request, snap, version, parts[0], None, filter_text)
        if len(parts) == 2 and parts[0] in ENDPOINTS:
            return self.one(snap, version, parts[0], parts[1])
        if len(parts) == 3 and parts[0] == "schools" and parts[2] in SCHOOL_ENDPOINTS:
            if snap.position("orgs", parts[1]) is None:
                return error_response(404, f"no school {parts[1]}", "unknownobject")
            if parts[1] == broken:
                return error_response(
                    500, f"data of school {broken} is incomplete", "internal_server_error"
                )
            return self.page(
                request, snap, version, parts[2], parts[1], request.args.get("filter") or None
            )
        return error_response(404, f"no such endpoint: {request.path}", "unknownobject")

    def one(self, snap, version, endpoint, sourced_id) -> Response:
        collection, view, _, single = ENDPOINTS[endpoint]
        position = snap.position(collection, sourced_id)
        if position is None or not in_view(view, collection, snap.records(collection)[position]):
            return error_response(404, f"no {single} {sourced_id}", "unknownobject")
        blob = snap.blobs_at(version, collection, [position])[0]
        return Response(
            b'{"%s":%s}' % (single.encode(), blob), 200, content_type="application/json"
        )

    def page(self, request, snap, version, endpoint, school, filter_text) -> Response:
        collection, view, wrapper, _ = ENDPOINTS[endpoint]
        try:
            limit = int(request.args.get("limit", DEFAULT_LIMIT))
            offset = int(request.args.get("offset", 0))
        except ValueError:
            return error_response(400, "limit and offset must be integers", "invalid_data")
        if limit < 1 or offset < 0:
            return error_response(400, "limit must be >= 1 and offset >= 0", "invalid_data")
        faults = self.faults
        limit = min(limit, MAX_LIMIT, faults.max_page_size or MAX_LIMIT)
        if faults.flaky((endpoint, collection), offset, limit):
            return error_response(500, "injected flaky page", "internal_server_error")
        indices = snap.view(collection, view, school, filter_text)
        if faults.no_schools and view == "school":
            indices = []
        total = len(indices)
        chunk = snap.blobs_at(version, collection, indices[offset : offset + limit])
        if faults.no_schools and collection == "orgs":
            chunk = [blob.replace(b'"type":"school"', b'"type":"department"') for blob in chunk]
        body = b'{"%s":[%s]}' % (wrapper.encode(), b",".join(chunk))
        malformed = faults.malformed_at
        if (
            malformed
            and malformed[0] in (endpoint, collection)
            and offset <= malformed[1] < offset + limit
        ):
            body = body[: max(1, len(body) // 2)]
        headers = {"Link": self._links(request, offset, limit, total, faults.no_total_count)}
        if faults.lying_total:
            headers = {"X-Total-Count": faults.lie_about(total, len(chunk))}
        elif not faults.no_total_count:
            headers["X-Total-Count"] = str(total)
        return Response(body, 200, headers, content_type="application/json")

    @staticmethod
    def _links(request, offset, limit, total, no_total) -> str:
        args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("limit", "offset")]
        base = request.base_url

        def link(at, rel):
            return f'<{base}?{urlencode(args + [("limit", limit), ("offset", at)])}>; rel="{rel}"'

        links = [link(0, "first")]
        if offset > 0:
            links.append(link(max(0, offset - limit), "prev"))
        if offset + limit < total:
            links.append(link(offset + limit, "next"))
        if not no_total:
            links.append(link(max(0, (total - 1) // limit * limit), "last"))
        return ", ".join(links)
