"""Deterministic generator of a demo school district.

Everything comes from one ``random.Random(seed)`` so a seed always gives the same district
(for a given ``today``): tests, the CLI and the benchmark can agree on the data without
sharing files. Special cases (leavers, future enrolments, disabled and deleted users,
messy and duplicate emails, HTML-looking names, parents without role or email) are
assigned to fixed-size slices rather than by chance, so even a tiny district has each.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .district import District, Record, timestamp
from .names import SCHOOL_KINDS, SCHOOL_WORDS, SUBJECTS
from .people import PeopleFactory


@dataclass(frozen=True)
class DistrictSpec:
    """Size and shape of a generated district."""

    schools: int = 3
    students: int = 300
    seed: int = 1
    unmatched_share: float = 0.05
    today: date | None = None
    students_per_teacher: int = 20
    class_size: int = 25


class _Calendar:
    """The current school year (always containing ``today``) and the previous one."""

    def __init__(self, today: date):
        start = today.year if today.month >= 8 else today.year - 1
        self.today = today
        self.start, self.end = date(start, 8, 1), date(start + 1, 8, 1)
        self.mid = date(start + 1, 1, 15)
        self.past_start, self.past_end = date(start - 1, 8, 1), date(start, 8, 1)
        self.past_mid = date(start, 1, 15)
        self.year = str(start + 1)
        self.past_year = str(start)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_district(spec: DistrictSpec | None = None) -> District:
    """Build a district for ``spec``; same spec and today give the same records."""
    spec = spec or DistrictSpec()
    rng = random.Random(spec.seed)
    today = spec.today or date.today()
    cal = _Calendar(today)
    # Base modification times lie in the month before today (and never in the future of
    # the real clock), so a delta sync filtering on "now" finds only changed records.
    anchor = min(today, datetime.now(UTC).date()) - timedelta(days=31)
    dlm_pool = [
        timestamp(datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC) + timedelta(hours=h))
        for h in range(0, 30 * 24, 23)
    ]
    district = District(spec, today, [], [], [], [], [], [], [])

    def stamp() -> str:
        return rng.choice(dlm_pool)

    # -- orgs ------------------------------------------------------------------------
    district_org = {
        "sourcedId": "org-district",
        "status": "active",
        "dateLastModified": dlm_pool[0],
        "name": "Demo Unified School District",
        "type": "district",
        "identifier": "DUSD",
        "parent": None,
        "children": [],
    }
    district.orgs.append(district_org)
    for i in range(spec.schools):
        word = SCHOOL_WORDS[i % len(SCHOOL_WORDS)]
        kind = SCHOOL_KINDS[i % len(SCHOOL_KINDS)]
        name = f"{word} {kind}" + (f" {i // len(SCHOOL_WORDS) + 1}" if i >= 20 else "")
        if i == 1:
            name = "St. Mary's Académie"
        sid = f"sch-{i + 1:03d}"
        district.orgs.append(
            {
                "sourcedId": sid,
                "status": "active",
                "dateLastModified": stamp(),
                "name": name,
                "type": "school",
                "identifier": f"S{i + 1:03d}",
                "parent": district.ref("org", "org-district"),
                "children": [],
            }
        )
        district_org["children"].append(district.ref("org", sid))

    # -- academic sessions -------------------------------------------------------------
    def session(sid, title, kind, start, end, year, parent=None, children=()):
        return {
            "sourcedId": sid,
            "status": "active",
            "dateLastModified": dlm_pool[0],
            "title": title,
            "type": kind,
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "parent": district.ref("academicSession", parent) if parent else None,
            "children": [district.ref("academicSession", c) for c in children],
            "schoolYear": year,
        }

    terms = {}
    for label, y, s, m, e in (
        ("cur", cal.year, cal.start, cal.mid, cal.end),
        ("past", cal.past_year, cal.past_start, cal.past_mid, cal.past_end),
    ):
        year_id = f"as-{y}"
        district.academic_sessions += [
            session(
                year_id,
                f"{int(y) - 1}-{y}",
                "schoolYear",
                s,
                e,
                y,
                None,
                [f"{year_id}-t1", f"{year_id}-t2"],
            ),
            session(f"{year_id}-t1", f"Fall {int(y) - 1}", "term", s, m, y, year_id),
            session(f"{year_id}-t2", f"Spring {y}", "term", m, e, y, year_id),
        ]
        terms[label] = [
            district.ref("academicSession", f"{year_id}{x}") for x in ("", "-t1", "-t2")
        ]

    # -- students per school -----------------------------------------------------------
    weights = [rng.uniform(0.6, 1.4) for _ in range(spec.schools)]
    total = sum(weights)
    per_school = [max(1, int(spec.students * w / total)) for w in weights]
    per_school[0] += max(0, spec.students - sum(per_school))
    people = PeopleFactory(district, rng, cal, stamp, _uuid)

    for i, school in enumerate(district.schools):
        _build_school(district, rng, cal, terms, stamp, people, i, school, per_school[i], spec)

    people.add_staff_and_specials(spec)
    district.users.extend(people.users)
    district.enrollments.extend(people.enrollments)
    people.build_directory(spec)
    district.touch()
    district.revision = 0
    return district


def _build_school(district, rng, cal, terms, stamp, people, index, school, n_students, spec):
    """Courses, classes, teachers, students, parents and enrollments of one school."""
    sid = school["sourcedId"]
    school_ref = district.ref("org", sid)
    grades = [["KG", "01", "02", "03", "04", "05"], ["06", "07", "08"], ["09", "10", "11", "12"]]
    school_grades = grades[index % 3] if index % 4 != 3 else grades[2]
    courses: list[Record] = []
    for c, (subject, code) in enumerate(SUBJECTS):
        course_id = f"crs-{sid[4:]}-{c + 1:02d}"
        courses.append(
            {
                "sourcedId": course_id,
                "status": "active",
                "dateLastModified": stamp(),
                "title": f"{subject}" if c != 11 else "<b>Chemistry</b> & Lab",
                "schoolYear": terms["cur"][0],
                "courseCode": f"{code}-{sid[4:]}",
                "grades": school_grades,
                "subjects": [subject],
                "org": school_ref,
            }
        )
    district.courses.extend(courses)

    n_current = max(8, math.ceil(n_students * 7 / spec.class_size))
    n_past = max(2, n_current // 20)
    current, past, deleted = [], [], []
    year_ref, t1, t2 = terms["cur"]
    term_choices = [[year_ref]] * 6 + [[t1, t2]] * 2 + [[t1], [t2]]
    for n in range(n_current + n_past + 1):
        course = courses[n % len(courses)]
        is_past = n >= n_current
        status = "tobedeleted" if n == n_current + n_past else "active"
        cls = {
            "sourcedId": f"cls-{sid[4:]}-{n + 1:05d}",
            "status": status,
            "dateLastModified": stamp(),
            "title": f"{course['title']} {'P' if is_past else ''}{n // len(courses) + 1}",
            "classCode": f"{course['courseCode']}-{n + 1}",
            "classType": "homeroom" if n % 15 == 0 else "scheduled",
            "location": f"Room {100 + n % 300}",
            "grades": course["grades"],
            "subjects": course["subjects"],
            "course": district.ref("course", course["sourcedId"]),
            "school": school_ref,
            "terms": [terms["past"][0]] if is_past else term_choices[n % len(term_choices)],
            "periods": [str(n % 8 + 1)],
        }
        (deleted if status != "active" else past if is_past else current).append(cls)
    district.classes.extend(current + past + deleted)

    teachers = [
        people.teacher(school_ref)
        for _ in range(max(2, math.ceil(n_students / spec.students_per_teacher)))
    ]
    students = [people.student(school_ref, school_grades) for _ in range(n_students)]
    people.school_rosters.append((school_ref, students, teachers, current, past))
    for cls_index, cls in enumerate(current + past):
        is_past = cls_index >= len(current)
        cls_ref = district.ref("class", cls["sourcedId"])
        lead = teachers[cls_index % len(teachers)]
        people.enrol(lead, cls_ref, school_ref, "teacher", "true", is_past)
        if cls_index % 10 == 3 and len(teachers) > 1:
            co = teachers[(cls_index + 1) % len(teachers)]
            people.enrol(co, cls_ref, school_ref, "teacher", "false", is_past)
    for student in students:
        for cls in rng.sample(current, min(len(current), rng.randint(6, 8))):
            people.enrol(student, district.ref("class", cls["sourcedId"]), school_ref, "student")
        if past and rng.random() < 0.1:
            cls = rng.choice(past)
            people.enrol(
                student, district.ref("class", cls["sourcedId"]), school_ref, "student", past=True
            )
        people.agents_for(student, school_ref)
