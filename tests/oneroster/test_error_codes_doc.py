"""docs/error-codes.md is generated from the enums, lists every code, and is not stale."""

import re
from pathlib import Path

from sisapp.oneroster import ErrorCode, OneRosterError
from sisapp.services.error_codes import SECTIONS, error_codes_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "error-codes.md"


def test_every_code_documented():
    text = DOC.read_text()
    for code in ErrorCode:
        assert f"| {code.value} | `{code.name}` | {code.meaning} | {code.action} |" in text


def test_committed_doc_is_generated_from_the_enums():
    """Fails when an enum changed and `flask --app app docs error-codes` was not run."""
    assert DOC.read_text() == error_codes_markdown()


def test_docs_command_checks_and_writes(app, tmp_path):
    runner = app.test_cli_runner()
    target = tmp_path / "error-codes.md"
    target.write_text("# stale\n")
    stale = runner.invoke(args=["docs", "error-codes", "--check", "--path", str(target)])
    assert stale.exit_code == 1 and target.read_text() == "# stale\n"
    written = runner.invoke(args=["docs", "error-codes", "--path", str(target)])
    assert written.exit_code == 0 and target.read_text() == error_codes_markdown()
    fresh = runner.invoke(args=["docs", "error-codes", "--check", "--path", str(target)])
    assert fresh.exit_code == 0


# What a school IT admin should not have to read: settings, Python, queue internals.
_TECHNICAL = re.compile(r"\b(SISAPP_\w+|SYNC_\w+|REDIS\w*|RQ|Redis|Python|sisapp\.\w+|AOF|HTTP \d)")


def test_admin_texts_are_plain_and_every_code_has_all_parts():
    codes = [c for section in SECTIONS for c in section.codes]
    assert len({c.code for c in codes}) == len(codes)
    for c in codes:
        assert c.meaning and c.action, c.code
        assert not _TECHNICAL.search(c.meaning), (c.code, c.meaning)
        assert not _TECHNICAL.search(c.action), (c.code, c.action)
    for section in SECTIONS:
        assert not _TECHNICAL.search(section.summary), section.title


def test_old_three_part_members_still_work():
    """Codes added in the (code, meaning, action) shape get an empty operator note."""
    from sisapp.oneroster.errors import CodeTable

    class Extra(CodeTable):
        NEW = ("ZZ100", "Something new happened.", "Contact Support with the error code.")

    assert Extra.NEW == "ZZ100" and Extra.NEW.operator_note == ""


def test_codes_are_unique_and_stable_strings():
    values = [code.value for code in ErrorCode]
    assert len(values) == len(set(values))
    assert all(value.startswith("OR") and len(value) == 5 for value in values)
    assert ErrorCode("OR120") is ErrorCode.BAD_CREDENTIALS
    required = {
        "BAD_CREDENTIALS",
        "TOKEN_URL_FAILED",
        "SIGNATURE_INVALID",
        "CLOCK_SKEW",
        "FORBIDDEN_SCOPE",
        "UNREACHABLE",
        "TLS_ERROR",
        "TIMEOUT",
        "SERVER_ERROR",
        "RATE_LIMITED",
        "NOT_ONEROSTER",
        "MALFORMED_PAGE",
        "PAGING_STUCK",
        "SCHOOL_READ_FAILED",
        "URL_NOT_ALLOWED",
        "CANCELLED",
        "INVALID_SETTINGS",
    }
    assert required <= {code.name for code in ErrorCode}


def test_error_str_format():
    error = OneRosterError(
        ErrorCode.BAD_CREDENTIALS, "Refused.", status=401, path="/ims/oneroster/v1p1/users"
    )
    assert str(error) == "OR120: Refused. (HTTP 401 at /ims/oneroster/v1p1/users)"
    assert str(OneRosterError(ErrorCode.CANCELLED, "Stopped.")) == "OR170: Stopped."
