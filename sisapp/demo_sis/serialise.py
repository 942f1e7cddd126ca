"""Turn internal records into OneRoster v1.1 or v1.2 JSON bytes, once per record.

The server joins these bytes into pages, so a page costs a slice and a ``join`` rather
than ``json.dumps`` of a thousand dicts: serving stays cheap next to any client.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _esc

V1P1_PATH = "/ims/oneroster/v1p1"
V1P2_PATH = "/ims/oneroster/rostering/v1p2"
VERSION_PATHS = {"v1p1": V1P1_PATH, "v1p2": V1P2_PATH}
REF_COLLECTIONS = {
    "org": "orgs",
    "academicSession": "academicSessions",
    "course": "courses",
    "class": "classes",
    "user": "users",
    "enrollment": "enrollments",
}
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ENROLLMENT_KEYS = {
    "sourcedId",
    "status",
    "dateLastModified",
    "user",
    "class",
    "school",
    "role",
    "primary",
    "beginDate",
    "endDate",
}
_USER_REQUIRED = {"sourcedId", "status", "dateLastModified", "role", "orgs", "enabledUser"}
# Optional text fields of a user, in the order they are sent.
_USER_TEXTS = (
    "username",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
)
_USER_KEYS = _USER_REQUIRED | {*_USER_TEXTS, "agents", "grades"}


_MISSING = object()


def _value(value) -> str:
    """JSON of a scalar: strings escaped by the C encoder, the rest via json."""
    return _esc(value) if type(value) is str else _encode(value)


class Serialiser:
    """Encodes records for one server (hrefs carry its root URL)."""

    def __init__(self, root_url: str):
        self.bases = {v: root_url + p for v, p in VERSION_PATHS.items()}
        self._refs: dict[tuple[str, str, str], dict] = {}
        self._ref_json: dict[str, dict[int, str]] = {v: {} for v in VERSION_PATHS}
        self._keep: list[dict] = []

    def ref(self, version: str, ref: dict) -> dict:
        """GUIDRef with ``href``, shared between all records pointing at the same target."""
        key = (version, ref["type"], ref["sourcedId"])
        found = self._refs.get(key)
        if found is None:
            collection = REF_COLLECTIONS.get(ref["type"], ref["type"] + "s")
            found = self._refs[key] = {
                "href": f"{self.bases[version]}/{collection}/{ref['sourcedId']}",
                "sourcedId": ref["sourcedId"],
                "type": ref["type"],
            }
        return found

    def record(self, version: str, collection: str, rec: dict) -> dict:
        """The record as served by ``version``."""
        out = {}
        for key, value in rec.items():
            if type(value) is dict:
                value = self.ref(version, value)
            elif type(value) is list and value and type(value[0]) is dict:
                value = [self.ref(version, item) for item in value]
            out[key] = value
        out["metadata"] = {}
        if version == "v1p2":
            if collection == "users":
                out = self._user_v1p2(out)
            elif collection == "enrollments":
                out["primary"] = out.get("primary") == "true"
        return out

    def encode(self, version: str, collection: str, rec: dict) -> bytes:
        """JSON bytes of one record; the two big collections take a hand-written fast path."""
        if collection == "enrollments" and rec.keys() <= _ENROLLMENT_KEYS:
            return self._enrollment(version, rec).encode("utf-8")
        if collection == "users" and _USER_REQUIRED <= rec.keys() <= _USER_KEYS:
            return self._user(version, rec).encode("utf-8")
        return _encode(self.record(version, collection, rec)).encode("utf-8")

    def ref_json(self, version: str, ref: dict) -> str:
        """JSON of a GUIDRef, cached by the identity of the shared ref dict.

        Refs live as long as their district (``District.refs`` holds them), so an id is
        never reused while this cache exists; the cache keeps the ref alive as well.
        """
        cache = self._ref_json[version]
        found = cache.get(id(ref))
        if found is None:
            found = _encode(self.ref(version, ref))
            cache[id(ref)] = found
            self._keep.append(ref)
        return found

    def _enrollment(self, version: str, e: dict) -> str:
        cache = self._ref_json[version]
        refs = []
        for key in ("user", "class", "school"):
            ref = e[key]
            refs.append(cache.get(id(ref)) or self.ref_json(version, ref))
        primary = e.get("primary")
        primary = (
            ("true" if primary == "true" else "false") if version == "v1p2" else _value(primary)
        )
        out = (
            f'{{"sourcedId":{_esc(e["sourcedId"])},"status":"{e["status"]}",'
            f'"dateLastModified":"{e["dateLastModified"]}","metadata":{{}},'
            f'"user":{refs[0]},"class":{refs[1]},"school":{refs[2]},'
            f'"role":"{e["role"]}","primary":{primary}'
        )
        begin, end = e.get("beginDate", _MISSING), e.get("endDate", _MISSING)
        if begin is not _MISSING:
            out += f',"beginDate":{_value(begin)}'
        if end is not _MISSING:
            out += f',"endDate":{_value(end)}'
        return out + "}"

    def _user(self, version: str, u: dict) -> str:
        refj = self.ref_json
        role, orgs, enabled = u["role"], u["orgs"], u["enabledUser"]
        out = (
            f'{{"sourcedId":{_esc(u["sourcedId"])},"status":"{u["status"]}",'
            f'"dateLastModified":"{u["dateLastModified"]}","metadata":{{}}'
        )
        for key in _USER_TEXTS:
            if key in u:
                out += f',"{key}":{_value(u[key])}'
        if version == "v1p2" and u["sourcedId"][-1] not in "07":
            enabled = enabled is True or enabled == "true"
        out += f',"enabledUser":{_value(enabled)}'
        out += ',"agents":[' + ",".join([refj(version, a) for a in u.get("agents", ())]) + "]"
        out += ',"grades":[' + ",".join([_esc(g) for g in u.get("grades", ())]) + "]"
        if version == "v1p1":
            out += (
                f',"role":{_value(role)},"orgs":['
                + ",".join([refj(version, o) for o in orgs])
                + "]"
            )
            return out + "}"
        roles = (
            [
                f'{{"roleType":"{"primary" if n == 0 else "secondary"}","role":{_esc(role)},"org":{refj(version, o)}}}'
                for n, o in enumerate(orgs)
            ]
            if role
            else []
        )
        out += ',"roles":[' + ",".join(roles) + "]"
        if roles:
            out += f',"primaryOrg":{refj(version, orgs[0])}'
        return out + f',"userMasterIdentifier":{_value(u.get("identifier", ""))}}}'

    @staticmethod
    def _user_v1p2(user: dict) -> dict:
        """v1.2 users: ``roles[]`` and ``primaryOrg`` instead of ``role``/``orgs``.

        ``enabledUser`` is a JSON boolean, except for about one user in eight whose
        value stays a string, because real v1.2 servers mix both.
        """
        role, orgs = user.pop("role"), user.pop("orgs")
        roles = (
            [
                {"roleType": "primary" if n == 0 else "secondary", "role": role, "org": org}
                for n, org in enumerate(orgs)
            ]
            if role
            else []
        )
        enabled = user["enabledUser"]
        if user["sourcedId"][-1] not in "07":
            user["enabledUser"] = enabled == "true"
        user["roles"] = roles
        if roles:
            user["primaryOrg"] = roles[0]["org"]
        user["userMasterIdentifier"] = user.get("identifier", "")
        return user
