"""What the server pre-builds for one revision of a district.

Per-record JSON bytes (per OneRoster version) and index lists (per view, school and
filter), so answering a page is a slice and a ``join``. A new ``Snapshot`` replaces the
old one whenever ``District.revision`` moves, which is how edits reach the server.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from .filters import compile_filter, modified_since


def in_view(view, collection, rec) -> bool:
    if view is None:
        return True
    if collection == "users":
        return rec.get("role") == view
    return rec.get("type") == view


def _schools_of(collection, rec) -> list[str]:
    if collection == "users":
        return [o["sourcedId"] for o in rec.get("orgs", ())]
    ref = rec.get("org" if collection == "courses" else "school")
    return [ref["sourcedId"]] if ref else []


class Snapshot:
    """Pre-built pages material for one district revision."""

    def __init__(self, district, serialiser):
        self.district, self.serialiser, self.revision = district, serialiser, district.revision
        self.blobs: dict[tuple[str, str], list[bytes]] = {}
        self.views: dict[tuple, list[int]] = {}
        self.index: dict[str, dict[str, int]] = {}
        self.lock = district.lock  # builds must not interleave with apply_changes

    def records(self, collection):
        return self.district.collection(collection)

    def blob_list(self, version, collection) -> list:
        """Per-record JSON bytes for ``version``, filled in as pages ask for them.

        Serialising lazily means the first page answers at once, a delta sync pays only
        for the records it reads, and a full read pays once per record and version.
        """
        key = (version, collection)
        found = self.blobs.get(key)
        if found is None:
            found = self.blobs.setdefault(key, [None] * len(self.records(collection)))
        return found

    def blobs_at(self, version, collection, positions) -> list[bytes]:
        blobs = self.blob_list(version, collection)
        missing = [i for i in positions if blobs[i] is None]
        if missing:
            with self.lock:  # records must not be edited half-way through a page
                records, encode = self.records(collection), self.serialiser.encode
                for i in missing:
                    blobs[i] = encode(version, collection, records[i])
        return [blobs[i] for i in positions]

    def warm(self, version, collection) -> None:
        """Serialise a whole collection now (benchmarks call this before timing)."""
        self.blobs_at(version, collection, range(len(self.records(collection))))

    def view(self, collection, view, school=None, filter_text=None) -> list[int]:
        key = (collection, view, school, filter_text)
        found = self.views.get(key)
        if found is not None:
            return found
        records = self.records(collection)
        if filter_text:
            predicate = compile_filter(filter_text, collection)  # raises before any work
            found = self._modified(collection, view, school, filter_text)
            if found is None:
                found = [i for i in self.view(collection, view, school) if predicate(records[i])]
            if len(self.views) > 256:
                self.views = {k: v for k, v in self.views.items() if not k[3]}
        elif school is not None:
            with self.lock:
                group_key = (collection, view, "*", None)
                groups = self.views.get(group_key)
                if groups is None:
                    groups = {}
                    for i, rec in enumerate(records):
                        if in_view(view, collection, rec):
                            for sid in _schools_of(collection, rec):
                                groups.setdefault(sid, []).append(i)
                    for sid, indices in groups.items():
                        self.views[(collection, view, sid, None)] = indices
                    self.views[group_key] = groups
            found = groups.get(school, [])
        else:
            found = [i for i, rec in enumerate(records) if in_view(view, collection, rec)]
        self.views[key] = found
        return found

    def _modified(self, collection, view, school, filter_text) -> list[int] | None:
        """The records of a view a delta filter selects, from the district's
        dateLastModified index; None when the filter is not one or there is none."""
        since = modified_since(filter_text)
        index = self.district.modified_index(collection) if since else None
        if index is None:
            return None
        (op, wanted), (instants, positions) = since, index
        cut = (bisect_right if op == ">" else bisect_left)(instants, wanted)
        picked = sorted(positions[cut:])
        if view is None and school is None:  # the whole collection
            return picked
        inside = set(self.view(collection, view, school))
        return [i for i in picked if i in inside]

    def position(self, collection, sourced_id) -> int | None:
        index = self.index.get(collection)
        if index is None:
            index = {r["sourcedId"]: i for i, r in enumerate(self.records(collection))}
            self.index[collection] = index
        return index.get(sourced_id)
