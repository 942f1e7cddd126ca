"""What the client reads per school: the school list, nested per-school collections
(with the filtered top-level fallback) and the read-ahead of school rosters.

A mixin of :class:`OneRosterClient`, kept apart so each module reads in one sitting;
it relies on the client's ``_records`` and ``_collection``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from . import records
from .errors import ErrorCode, OneRosterError
from .paging import since_filter
from .readahead import ReadAhead
from .urls import path_of

# Schools whose classes and enrollments are read ahead of the one the caller works on.
READ_AHEAD_SCHOOLS = 2

_NESTED_FALLBACK_FILTER = {
    "classes": "school.sourcedId",
    "enrollments": "school.sourcedId",
    "courses": "org.sourcedId",
}


class SchoolReads:
    """Per-school reads of :class:`OneRosterClient`."""

    def schools(self) -> Iterator[records.Org]:
        """The SIS's schools; NO_SCHOOLS, naming the org types it sent, when there are none."""
        found = False
        for org in self._records("/schools", {}, records.parse_org):
            found = True
            yield org
        if not found:
            raise self._no_schools()

    def _no_schools(self) -> OneRosterError:
        try:
            types = Counter(
                (org.type or "no type").lower()
                for org in self._records("/orgs", {}, records.parse_org)
            )
        except OneRosterError as exc:
            if exc.code is ErrorCode.CANCELLED:
                raise
            said = f"no school, and listing its organisations failed ({exc.code.value})"
        else:
            count = sum(types.values())
            kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(types.items()))
            noun = "organisation" if count == 1 else "organisations"
            said = f"{count} {noun} ({kinds}) and no school" if count else "no organisation"
        return OneRosterError(
            ErrorCode.NO_SCHOOLS,
            f"The SIS returned {said}. Nothing can be synced until the SIS exports its schools "
            "as organisations of type 'school'; ask the SIS administrator to fix the export.",
            path=path_of(self._base + "/schools"),
        )

    def courses(
        self, school_id: str | None = None, since: datetime | None = None
    ) -> Iterator[records.Course]:
        return self._school_or_all("courses", records.parse_course, school_id, since)

    def classes(
        self, school_id: str | None = None, since: datetime | None = None
    ) -> Iterator[records.Class]:
        return self._school_or_all("classes", records.parse_class, school_id, since)

    def enrollments(
        self, school_id: str | None = None, since: datetime | None = None
    ) -> Iterator[records.Enrollment]:
        return self._school_or_all("enrollments", records.parse_enrollment, school_id, since)

    def _school_or_all(self, name: str, parse, school_id: str | None, since) -> Iterator:
        if school_id is None:
            return self._collection(name, parse, since)
        return self._per_school(school_id, name, parse, since)

    def _per_school(self, school_id: str, name: str, parse, since: datetime | None) -> Iterator:
        """Nested ``/schools/{id}/{name}``; on 404 the filtered top-level collection."""
        try:
            if name not in self._nested_missing:
                yielded = False
                try:
                    for record in self._records(
                        f"/schools/{school_id}/{name}", {"filter": since_filter(since)}, parse
                    ):
                        yielded = True
                        yield record
                    return
                except OneRosterError as exc:
                    if exc.code is not ErrorCode.ENDPOINT_NOT_FOUND or yielded:
                        raise
                    self._nested_missing.add(name)
                    self._log(f"no nested /schools/{{id}}/{name}; filtering /{name} by school")
            yield from self._collection(
                name, parse, since, f"{_NESTED_FALLBACK_FILTER[name]}='{school_id}'"
            )
        except OneRosterError as exc:
            self._raise_for_school(exc, school_id)

    @staticmethod
    def _raise_for_school(exc: OneRosterError, school_id: str) -> None:
        """Wrap a failure as SCHOOL_READ_FAILED so the sync can go on with other schools."""
        if exc.code in (ErrorCode.CANCELLED, ErrorCode.SCHOOL_READ_FAILED):
            raise exc
        raise OneRosterError(
            ErrorCode.SCHOOL_READ_FAILED,
            f"Reading school {school_id} failed: {exc}",
            status=exc.status,
            path=exc.path,
            detail=exc.detail,
            cause_code=exc.code,
            school_id=school_id,
        ) from exc

    def users(
        self, school_id: str | None = None, since: datetime | None = None
    ) -> Iterator[records.User]:
        """All users (every role, parents too) or one school's students and teachers."""
        if school_id is None:
            return self._collection("users", records.parse_user, since)
        return self._school_users(school_id, since)

    def _school_users(self, school_id: str, since: datetime | None) -> Iterator[records.User]:
        try:
            if "users" not in self._nested_missing:
                seen: set[str] = set()
                try:
                    for name in ("students", "teachers"):
                        for user in self._records(
                            f"/schools/{school_id}/{name}",
                            {"filter": since_filter(since)},
                            records.parse_user,
                        ):
                            if user.sourced_id not in seen:
                                seen.add(user.sourced_id)
                                yield user
                    return
                except OneRosterError as exc:
                    if exc.code is not ErrorCode.ENDPOINT_NOT_FOUND or seen:
                        raise
                    self._nested_missing.add("users")
                    self._log("no nested /schools/{id}/students; filtering /users by org")
            for user in self._collection("users", records.parse_user, since):
                if school_id in user.org_ids:
                    yield user
        except OneRosterError as exc:
            self._raise_for_school(exc, school_id)

    def at_once(
        self,
        opens: list[Callable[[], Iterable]],
        on_wait: Callable[[], None] | None = None,
    ) -> ReadAhead:
        """An iterator per read in ``opens`` (functions starting one, such as
        ``lambda: client.users(since=...)``), in that order, all of them read in the
        background from the start, unless the settings ask for one request at a time.

        For a delta, whose collections are a page or a few each: read one after
        another, each waits for its own first page. A read's failure is raised by its
        own iterator, where it happened. Use as a context manager (leaving it cancels
        the reads still running).
        """
        self._ensure_ready()  # (discovery once, here, not raced by the reads)
        ahead = max(0, len(opens) - 1) if self.settings.concurrency > 1 else 0
        return ReadAhead(opens, ahead, on_wait)

    def school_rosters(
        self,
        schools: Iterable[tuple[str, datetime | None]],
        on_wait: Callable[[], None] | None = None,
    ) -> ReadAhead[records.Class | records.Enrollment]:
        """Each school's classes, then its enrollments (changed since its own date, if
        any), as one iterator of records per school, in the order given.

        The next schools are read ahead in the background, unless the settings ask for
        one request at a time. A school's failure is raised (SCHOOL_READ_FAILED) by its
        own iterator, after its records read before the failure; the caller may go on
        with the next school. ``on_wait`` is called while the caller waits for records
        read in the background. Use as a context manager.
        """

        def roster(school_id: str, since: datetime | None) -> Callable[[], Iterator]:
            def read() -> Iterator[records.Class | records.Enrollment]:
                yield from self.classes(school_id, since=since)
                yield from self.enrollments(school_id, since=since)

            return read

        ahead = READ_AHEAD_SCHOOLS if self.settings.concurrency > 1 else 0
        return ReadAhead((roster(sid, since) for sid, since in schools), ahead, on_wait)
