"""The generator: deterministic, sensibly sized, and full of real-world oddities."""

from __future__ import annotations

import csv
import time
from collections import Counter
from datetime import date

import pytest

from sisapp.demo_sis import DistrictSpec, generate_district
from sisapp.demo_sis.district import normalise_email
from tests.helpers.demo_api import TODAY


def _current(e, today=TODAY):
    iso = today.isoformat()
    return (not e.get("beginDate") or e["beginDate"] <= iso) and (
        not e.get("endDate") or e["endDate"] > iso
    )


def _by_user(district):
    groups = {}
    for e in district.enrollments:
        groups.setdefault(e["user"]["sourcedId"], []).append(e)
    return groups


def test_same_seed_same_district_and_other_seed_differs():
    spec = DistrictSpec(schools=2, students=120, seed=11, today=TODAY)
    one, two = generate_district(spec), generate_district(spec)
    assert one.users == two.users
    assert one.enrollments == two.enrollments
    assert one.classes == two.classes
    assert one.directory == two.directory
    other = generate_district(DistrictSpec(schools=2, students=120, seed=12, today=TODAY))
    assert other.users != one.users


def test_ratios_are_sensible():
    district = generate_district(DistrictSpec(schools=4, students=2000, seed=2, today=TODAY))
    roles = Counter(u["role"] for u in district.users)
    assert roles["student"] == 2000
    assert 80 <= roles["teacher"] <= 110
    agents = roles["parent"] + roles["guardian"] + roles["relative"] + roles[""]
    assert 2000 <= agents <= 2 * 2000
    per_student = Counter(
        e["user"]["sourcedId"] for e in district.enrollments if e["role"] == "student"
    )
    assert 6.5 <= sum(per_student.values()) / len(per_student) <= 8
    assert len(district.schools) == 4
    assert {s["type"] for s in district.academic_sessions} == {"schoolYear", "term"}
    assert all(
        u["sourcedId"] <= v["sourcedId"]
        for u, v in zip(district.users, district.users[1:], strict=False)
    )


def test_enrolment_special_cases(district):
    groups = _by_user(district)
    students = [u for u in district.users if u["role"] == "student"]
    left = [
        u
        for u in students
        if groups.get(u["sourcedId"]) and not any(_current(e) for e in groups[u["sourcedId"]])
    ]
    future_only = [
        u
        for u in left
        if all(
            e.get("beginDate") and e["beginDate"] > TODAY.isoformat()
            for e in groups[u["sourcedId"]]
        )
    ]
    assert len(left) - len(future_only) >= 3  # students who left
    assert len(future_only) >= 2
    assert any(u["sourcedId"] not in groups for u in students)  # no enrollment at all
    dates = [e.get("beginDate", "missing") for e in district.enrollments]
    assert {"", None, "missing"} <= set(dates)
    assert any(e.get("endDate") == TODAY.isoformat() for e in district.enrollments)
    assert any(
        e.get("beginDate", "") > TODAY.isoformat() and _current(e) is False
        for e in district.enrollments
    )
    sessions = {s["sourcedId"]: s for s in district.academic_sessions}
    past_only = [
        c
        for c in district.classes
        if all(sessions[t["sourcedId"]]["endDate"] <= TODAY.isoformat() for t in c["terms"])
    ]
    assert past_only
    past_ids = {c["sourcedId"] for c in past_only}
    assert any(e["class"]["sourcedId"] in past_ids for e in district.enrollments)
    assert any(c["status"] == "tobedeleted" for c in district.classes)
    multi = [u for u in students if len(u["orgs"]) > 1]
    assert multi and all(
        len({e["school"]["sourcedId"] for e in groups[u["sourcedId"]]}) > 1 for u in multi
    )


def test_user_special_cases(district):
    users = district.users
    for role in ("student", "teacher"):
        mine = [u for u in users if u["role"] == role]
        assert any(u["status"] == "tobedeleted" for u in mine), role
        assert any(u["enabledUser"] == "false" for u in mine), role
        assert any(not normalise_email(u.get("email")) for u in mine), role
        assert any(u.get("email") and u["email"] != normalise_email(u["email"]) for u in mine), role
    assert any("email" not in u for u in users)
    assert any(u.get("email") == "" for u in users)
    assert any(u.get("email") == "   " for u in users)
    emails = Counter(
        normalise_email(u.get("email")) for u in users if u["role"] in ("student", "teacher")
    )
    emails.pop("", None)
    duplicates = [e for e, n in emails.items() if n > 1]
    assert len(duplicates) >= 3
    by_email = {}
    for u in users:
        by_email.setdefault(normalise_email(u.get("email")), set()).add(u["role"])
    assert any(by_email[e] == {"student", "teacher"} for e in duplicates)  # across roles
    roles = Counter(u["role"] for u in users)
    assert roles["administrator"] and roles["aide"] and roles["proctor"]
    assert roles[""] >= 2  # contacts without a relationship role
    parents = [u for u in users if u["role"] in ("parent", "guardian", "relative")]
    assert any(not normalise_email(u.get("email")) for u in parents)
    assert any(u["enabledUser"] == "false" for u in parents)
    names = " ".join(u["givenName"] + " " + u["familyName"] for u in users)
    for needle in ("<b>", "<script>", "'", "é"):
        assert needle in names
    # agents from both sides
    agent_ids = {a["sourcedId"] for u in users if u["role"] == "student" for a in u["agents"]}
    parent_side = [u for u in parents if u["agents"] and u["sourcedId"] not in agent_ids]
    assert parent_side and agent_ids
    shared = Counter(a["sourcedId"] for u in users if u["role"] == "student" for a in u["agents"])
    assert max(shared.values()) >= 2  # siblings share a parent


def test_directory_csv(district, tmp_path):
    path = tmp_path / "dir.csv"
    district.write_directory_csv(path)
    with path.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        assert reader.fieldnames == ["email", "given_name", "family_name", "kind", "source"]
    assert rows == district.directory_rows()
    emails = [r["email"] for r in rows]
    assert len(emails) == len(set(emails))
    assert all(e == e.strip().lower() for e in emails)
    assert {r["kind"] for r in rows} == {"student", "teacher", "staff"}
    assert {r["source"] for r in rows} == {"demo-ldap"}
    sis = {normalise_email(u.get("email")): u for u in district.users}
    assert not any(sis.get(e, {}).get("role") in ("parent", "guardian", "relative") for e in emails)
    assert sum(e not in sis for e in emails) >= 3  # directory users the SIS does not have
    candidates = {e for e, u in sis.items() if e and u["role"] in ("student", "teacher")}
    left_out = candidates - set(emails)
    assert 0.03 <= len(left_out) / len(candidates) <= 0.08


def test_apply_changes_marks_modified_records():
    district = generate_district(DistrictSpec(schools=2, students=200, seed=5, today=TODAY))
    before = district.expected_counts()
    users_before = len(district.users)
    summary = district.apply_changes(0.02, seed=1)
    assert district.revision == 1
    assert summary["added"] >= 1 and summary["deleted_users"] >= 1
    assert len(district.users) == users_before + summary["added"]
    newest = max(u["dateLastModified"] for u in district.users)
    changed = [u for u in district.users if u["dateLastModified"] == newest]
    assert len(changed) >= summary["renamed"]
    assert sum(c["dateLastModified"] == newest for c in district.classes) == summary["classes"]
    assert (
        sum(e["dateLastModified"] == newest for e in district.enrollments) >= summary["enrollments"]
    )
    assert district.expected_counts() != before
    assert all(
        u["sourcedId"] <= v["sourcedId"]
        for u, v in zip(district.users, district.users[1:], strict=False)
    )


@pytest.mark.slow
def test_fifty_thousand_students_generate_quickly():
    started = time.perf_counter()
    district = generate_district(
        DistrictSpec(schools=20, students=50000, seed=1, today=date(2026, 3, 2))
    )
    elapsed = time.perf_counter() - started
    assert elapsed < 30, elapsed
    assert 330_000 <= len(district.enrollments) <= 420_000
