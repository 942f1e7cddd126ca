"""Users, enrollments and the directory for the generator.

Kept apart from ``generator`` so each module stays readable: this one knows about people
(students, teachers, staff, parents), how they are enrolled, which ones get the special
cases real SIS data contains, and which of them School Manager's directory knows.
"""

from __future__ import annotations

from datetime import timedelta

from .district import normalise_email
from .names import FAMILY_NAMES, GIVEN_NAMES, HTML_NAMES, MIDDLE_NAMES, slug

PARENT_ROLES = ("parent", "guardian", "relative")
DIRECTORY_SOURCE = "demo-ldap"


class _Slices:
    """Hands out disjoint slices of a shuffled list: a share of it, but at least a minimum."""

    def __init__(self, rng, items: list):
        self.pool, self.size = rng.sample(items, len(items)), len(items)

    def take(self, share: float, minimum: int = 1) -> list:
        count = max(minimum, round(share * self.size))
        taken, self.pool = self.pool[:count], self.pool[count:]
        return taken


class PeopleFactory:
    """Creates people records and their enrollments for one district."""

    def __init__(self, district, rng, cal, stamp, make_id):
        self.district, self.rng, self.cal, self.stamp, self.make_id = (
            district,
            rng,
            cal,
            stamp,
            make_id,
        )
        self.users: list[dict] = []
        self.enrollments: list[dict] = []
        self.by_user: dict[str, list[dict]] = {}
        self.school_rosters: list[tuple] = []
        self.counter = 0
        self._last_parent: dict[str, dict] = {}
        iso = {d: d.isoformat() for d in (cal.start, cal.end, cal.past_start, cal.past_end)}
        self.begin = (
            iso[cal.start]
            if cal.start + timedelta(days=19) > cal.today
            else ((cal.start + timedelta(days=19)).isoformat())
        )
        self.end, self.past_begin, self.past_end = (
            iso[cal.end],
            iso[cal.past_start],
            iso[cal.past_end],
        )

    # -- people -----------------------------------------------------------------------
    def person(self, role: str, orgs: list, domain: str, grades=None, add=True) -> dict:
        rng = self.rng
        self.counter += 1
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        username = f"{slug(given)}.{slug(family)}{self.counter}"
        user = {
            "sourcedId": self.make_id(rng),
            "status": "active",
            "dateLastModified": self.stamp(),
            "username": username,
            "enabledUser": "true",
            "givenName": given,
            "familyName": family,
            "middleName": rng.choice(MIDDLE_NAMES),
            "role": role,
            "identifier": f"{role[0].upper()}{self.counter:07d}",
            "email": f"{username}@{domain}",
            "sms": "",
            "phone": f"555-{self.counter % 10000:04d}" if role in PARENT_ROLES else "",
            "agents": [],
            "orgs": list(orgs),
            "grades": list(grades or []),
        }
        if add:
            self.users.append(user)
        return user

    def student(self, school_ref, grades, add=True) -> dict:
        return self.person(
            "student", [school_ref], "students.demo.example", [self.rng.choice(grades)], add
        )

    def teacher(self, school_ref) -> dict:
        return self.person("teacher", [school_ref], "demo.example")

    def agents_for(self, student: dict, school_ref) -> None:
        """Give a student 1-2 parents/guardians/relatives, sometimes shared with a sibling."""
        rng = self.rng
        school = school_ref["sourcedId"]
        for n in range(1 if rng.random() < 0.6 else 2):
            previous = self._last_parent.get(school)
            if n == 0 and previous is not None and rng.random() < 0.15:
                agent = previous
            else:
                role = rng.choices(PARENT_ROLES, (6, 2.5, 1.5))[0]
                agent = self.person(role, [school_ref], "family.example")
                self._last_parent[school] = agent
            side = rng.random()
            if side < 0.9:
                student["agents"].append(self.district.ref("user", agent["sourcedId"]))
            if side < 0.7 or side >= 0.9:
                agent["agents"].append(self.district.ref("user", student["sourcedId"]))

    def enrol(self, user, cls_ref, school_ref, role, primary="false", past=False) -> dict:
        """Enrol ``user``; current enrolments get the usual (sometimes empty) dates."""
        rng = self.rng
        enrollment = {
            "sourcedId": self.make_id(rng),
            "status": "active",
            "dateLastModified": self.stamp(),
            "user": self.district.ref("user", user["sourcedId"]),
            "class": cls_ref,
            "school": school_ref,
            "role": role,
            "primary": primary,
        }
        if past:
            enrollment["beginDate"], enrollment["endDate"] = self.past_begin, self.past_end
        else:
            r = rng.random()
            if r >= 0.08:
                enrollment["beginDate"] = self.begin
            elif r >= 0.01:
                enrollment["beginDate"] = "" if r < 0.06 else None
            r = rng.random()
            enrollment["endDate"] = self.end if r >= 0.05 else ("" if r < 0.03 else None)
        self.enrollments.append(enrollment)
        self.by_user.setdefault(user["sourcedId"], []).append(enrollment)
        return enrollment

    # -- special cases ---------------------------------------------------------------------
    def add_staff_and_specials(self, spec) -> None:
        """Staff roles and the fixed slices of unusual users real SIS data contains."""
        rng, cal, ref = self.rng, self.cal, self.district.ref
        for school_ref, *_ in self.school_rosters:
            self.person("administrator", [school_ref], "demo.example")
            self.person("aide", [school_ref], "demo.example")
        self.person("proctor", [self.school_rosters[0][0]], "demo.example")

        students = [u for _, s, *_ in self.school_rosters for u in s]
        teachers = [u for _, _, t, *_ in self.school_rosters for u in t]
        parents = [u for u in self.users if u["role"] in PARENT_ROLES]
        day = timedelta(days=1)

        pool = _Slices(rng, students)
        for user in pool.take(0.01, 2):
            user["status"] = "tobedeleted"
        for user in pool.take(0.01, 2):
            user["enabledUser"] = "false"
        self._strip_emails(pool.take(0.01, 3))
        self._mess_emails(pool.take(0.03, 3))
        dupes = pool.take(0.005, 2)
        for user in pool.take(0.02, 3):  # left: every enrollment ended before today
            for e in self.by_user.get(user["sourcedId"], []):
                end = cal.today - rng.randint(1, 20) * day
                e["beginDate"], e["endDate"] = (
                    min(cal.start, end - 30 * day).isoformat(),
                    end.isoformat(),
                )
        for user in pool.take(0.01, 2):  # arriving later: only future enrollments
            for e in self.by_user.get(user["sourcedId"], []):
                begin = cal.today + rng.randint(1, 30) * day
                e["beginDate"], e["endDate"] = (
                    begin.isoformat(),
                    max(cal.end, begin + 60 * day).isoformat(),
                )
        dropped = {id(e) for u in pool.take(0.002, 1) for e in self.by_user.pop(u["sourcedId"], [])}
        self.enrollments[:] = [e for e in self.enrollments if id(e) not in dropped]
        for n, user in enumerate(pool.take(0.002, len(HTML_NAMES))):  # names to escape
            user["givenName" if n % 2 == 0 else "familyName"] = HTML_NAMES[n % len(HTML_NAMES)]
        for n, user in enumerate(pool.take(0.03, 3)):  # one extra ended or future enrollment
            roster = next(r for r in self.school_rosters if r[0] in user["orgs"])
            cls = ref("class", rng.choice(roster[3])["sourcedId"])
            e = self.enrol(user, cls, roster[0], "student")
            if n % 3 == 0:  # dropped a class a few days ago
                end = cal.today - rng.randint(1, 9) * day
                e["beginDate"], e["endDate"] = (end - 30 * day).isoformat(), end.isoformat()
            elif n % 3 == 1:  # ends today: already over, end dates are exclusive
                e["beginDate"], e["endDate"] = (
                    (cal.today - 30 * day).isoformat(),
                    cal.today.isoformat(),
                )
            else:  # starts later
                begin = cal.today + rng.randint(1, 9) * day
                e["beginDate"], e["endDate"] = begin.isoformat(), (begin + 60 * day).isoformat()
        if len(self.school_rosters) > 1:
            for user in pool.take(0.01, 1):  # in two schools
                own = next(i for i, r in enumerate(self.school_rosters) if r[0] in user["orgs"])
                other = self.school_rosters[(own + 1) % len(self.school_rosters)]
                user["orgs"].append(other[0])
                for cls in rng.sample(other[3], 2):
                    self.enrol(user, ref("class", cls["sourcedId"]), other[0], "student")
        regular = pool.pool
        for n, user in enumerate(dupes):
            original = regular[n % len(regular)]
            user["email"] = " " + original["email"].upper() if n % 2 else original["email"].title()

        pool = _Slices(rng, teachers)
        pool.take(0.01, 1)[0]["status"] = "tobedeleted"
        pool.take(0.01, 1)[0]["enabledUser"] = "false"
        self._strip_emails(pool.take(0.0, 1))
        self._mess_emails(pool.take(0.02, 1))
        for n, user in enumerate(pool.take(0.0, 1)):  # a teacher sharing a student's email
            user["email"] = regular[-1 - n]["email"].capitalize()
        if len(self.school_rosters) > 1:
            for user in pool.take(0.05, 1):
                own = next(i for i, r in enumerate(self.school_rosters) if r[0] in user["orgs"])
                user["orgs"].append(self.school_rosters[(own + 1) % len(self.school_rosters)][0])

        pool = _Slices(rng, parents)
        self._strip_emails(pool.take(0.05, 2))
        for user in pool.take(0.005, 2):
            user["role"] = ""  # a contact the SIS exports without a relationship role
        pool.take(0.0, 1)[0]["enabledUser"] = "false"
        pool.take(0.0, 1)[0]["status"] = "tobedeleted"
        self._mess_emails(pool.take(0.01, 1))

        # Students that arrive later (apply_changes): known to the directory already.
        first = self.school_rosters[0]
        self.pending = [
            self.student(r[0], ["09"], add=False) for r in (first,) * max(2, spec.students // 1000)
        ]
        self.district.pending_users = self.pending

    def _strip_emails(self, users) -> None:
        for n, user in enumerate(users):
            if n % 3 == 0:
                del user["email"]
            else:
                user["email"] = "" if n % 3 == 1 else "   "

    def _mess_emails(self, users) -> None:
        for n, user in enumerate(users):
            email = user["email"]
            user["email"] = [email.upper(), f"  {email} ", f" {email.title()}\t"][n % 3]

    # -- directory -----------------------------------------------------------------------
    def build_directory(self, spec) -> None:
        """School Manager's directory: SIS students/teachers (minus a share) and extras."""
        district, rng = self.district, self.rng
        district.users.sort(key=lambda u: u["sourcedId"])
        first_by_email: dict[str, dict] = {}
        for user in district.users:
            email = normalise_email(user.get("email"))
            if email and user["role"] in ("student", "teacher", "administrator"):
                first_by_email.setdefault(email, user)
        candidates = sorted(e for e, u in first_by_email.items() if u["role"] != "administrator")
        left_out = set(rng.sample(candidates, round(spec.unmatched_share * len(candidates))))
        rows = []
        for email, user in first_by_email.items():
            if email not in left_out:
                rows.append(self._row(email, user))
        for user in self.pending:
            rows.append(self._row(normalise_email(user["email"]), user))
        for n in range(3):
            rows.append(
                {
                    "email": f"staff.only{n + 1}@demo.example",
                    "given_name": "Staff",
                    "family_name": f"Only {n + 1}",
                    "kind": "staff",
                    "source": DIRECTORY_SOURCE,
                }
            )
        rows.sort(key=lambda r: r["email"])
        district.directory = rows

    @staticmethod
    def _row(email: str, user: dict) -> dict[str, str]:
        kind = user["role"] if user["role"] in ("student", "teacher") else "staff"
        return {
            "email": email,
            "given_name": user["givenName"],
            "family_name": user["familyName"],
            "kind": kind,
            "source": DIRECTORY_SOURCE,
        }
