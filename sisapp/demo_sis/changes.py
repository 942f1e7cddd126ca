"""Changed-records mode: edit a share of a district so a delta sync has work to do.

Every touched record gets ``dateLastModified`` = now, so ``filter=dateLastModified>'T'``
with T the previous sync's start finds exactly these records. The edits cover what a
delta sync must merge: renamed users, a changed enrollment end date, a retitled class,
users and a class marked ``tobedeleted``, and new students (ones the directory already
knows, so they match).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from .district import timestamp
from .names import FAMILY_NAMES


def apply_changes(district, share: float, seed: int, now: datetime | None = None) -> dict[str, int]:
    """Edit about ``share`` of the records of ``district``; returns what was changed."""
    if share <= 0:
        return {}
    rng = random.Random(f"changes-{seed}-{district.revision}")
    stamp = timestamp(now or datetime.now(UTC))
    today = district.today
    summary = {"renamed": 0, "deleted_users": 0, "enrollments": 0, "classes": 0, "added": 0}
    with district.lock:
        active = [u for u in district.users if u["status"] == "active"]
        changed = rng.sample(active, min(len(active), max(1, round(share * len(district.users)))))
        for user in changed:
            user["familyName"] = rng.choice(FAMILY_NAMES) + "-" + user["familyName"]
            user["dateLastModified"] = stamp
        summary["renamed"] = len(changed)
        deletable = [u for u in changed if u["role"] in ("student", "teacher")]
        for user in deletable[: max(1, len(changed) // 20)]:
            user["status"] = "tobedeleted"
            summary["deleted_users"] += 1

        dated = [e for e in district.enrollments if e["status"] == "active" and e.get("endDate")]
        count = min(len(dated), max(1, round(share * len(district.enrollments))))
        for n, e in enumerate(rng.sample(dated, count)):
            ended = today - timedelta(days=1) if n % 2 == 0 else today + timedelta(days=400)
            if e.get("beginDate") and e["beginDate"] > ended.isoformat():
                e["beginDate"] = (ended - timedelta(days=30)).isoformat()
            e["endDate"] = ended.isoformat()
            e["dateLastModified"] = stamp
        summary["enrollments"] = count

        classes = [c for c in district.classes if c["status"] == "active"]
        count = min(len(classes), max(1, round(share * len(classes))))
        for n, cls in enumerate(rng.sample(classes, count)):
            cls["title"] = f"{cls['title']} (room change)"
            if n == 0 and len(classes) > 1:
                cls["status"] = "tobedeleted"
            cls["dateLastModified"] = stamp
        summary["classes"] = count

        summary["added"] = _add_pending_students(district, rng, share, stamp)
        district.touch()
    return summary


def _add_pending_students(district, rng, share: float, stamp: str) -> int:
    """Move a few pre-generated students (already in the directory) into the SIS."""
    pending = district.pending_users
    count = min(len(pending), max(1, round(share * district.spec.students / 10)))
    past = {
        s["sourcedId"]
        for s in district.academic_sessions
        if s["endDate"] <= district.today.isoformat()
    }
    for user in pending[:count]:
        school = user["orgs"][0]
        options = [
            c
            for c in district.classes
            if c["school"] is school
            and c["status"] == "active"
            and not any(t["sourcedId"] in past for t in c["terms"])
        ]
        user["dateLastModified"] = stamp
        district.users.append(user)
        for cls in rng.sample(options, min(len(options), 6)):
            district.enrollments.append(
                {
                    "sourcedId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "status": "active",
                    "dateLastModified": stamp,
                    "user": district.ref("user", user["sourcedId"]),
                    "class": district.ref("class", cls["sourcedId"]),
                    "school": school,
                    "role": "student",
                    "primary": "false",
                    "beginDate": district.today.isoformat(),
                    "endDate": "",
                }
            )
    del pending[:count]
    return count
