"""docs/error-codes.md lists every client error code with the same meaning and action."""

from pathlib import Path

from sisapp.oneroster import ErrorCode, OneRosterError

DOC = Path(__file__).resolve().parents[2] / "docs" / "error-codes.md"


def test_every_code_documented():
    text = DOC.read_text()
    for code in ErrorCode:
        assert f"| {code.value} | `{code.name}` | {code.meaning} | {code.action} |" in text


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
