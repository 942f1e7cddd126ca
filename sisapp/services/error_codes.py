"""The error-code reference, generated from the code enums (their single source).

The error-codes page and docs/error-codes.md (`flask --app app docs error-codes`) both
read :data:`SECTIONS`; a failed run's "what to do" is looked up in the same enums.
"""

from dataclasses import dataclass

from sisapp.oneroster.errors import CodeTable, ErrorCode
from sisapp.services.sync_runs import JobErrorCode
from sisapp.sync.errors import SyncErrorCode


@dataclass(frozen=True)
class CodeInfo:
    code: str
    name: str
    meaning: str
    action: str
    operator_note: str = ""

    @property
    def anchor(self) -> str:
        return self.code.lower()

    @classmethod
    def of(cls, member: CodeTable) -> "CodeInfo":
        return cls(member.value, member.name, member.meaning, member.action, member.operator_note)


@dataclass(frozen=True)
class Section:
    """One range of codes: what the admin reads first, and the operator's background."""

    title: str
    summary: str
    operator_summary: str
    enum: type[CodeTable]

    @property
    def codes(self) -> list[CodeInfo]:
        return [CodeInfo.of(member) for member in self.enum]


INTRO = (
    "Every failure the app reports carries a stable code. The code never changes meaning; "
    "new failures get new codes."
)
WHEN_TO_CONTACT_SUPPORT = (
    "Contact Support with the error code, and the time it happened, when the advice for "
    "the code says so, or when an error keeps coming back after you followed the advice."
)

SECTIONS = (
    Section(
        "Connection and OneRoster client (OR1xx)",
        "Problems reaching or reading the SIS. They appear after Test Connection and on a "
        "failed or partly failed sync; the message shown with them never contains the "
        "client secret.",
        "Raised by `sisapp.oneroster` (the OneRoster client), shown on the connection page, "
        "in sync run records and by `flask oneroster check`. Messages give the HTTP status "
        "and the URL path, and quote the SIS's own `imsx_codeMajor` / `imsx_description`; "
        "they never contain the client secret, tokens or signatures.",
        ErrorCode,
    ),
    Section(
        "Jobs (JB3xx)",
        "A sync that ended for a reason outside the sync itself: it was lost, stopped, or "
        "ran too long. In every case no synced data was changed.",
        "Set by the background job machinery (`sisapp.services.sync_runs.JobErrorCode`) "
        "when a run ends because its worker died, its job was lost or it was stopped. The "
        "sync applies its changes in one transaction at the end, so nothing was "
        "half-applied.",
        JobErrorCode,
    ),
    Section(
        "Sync (SY1xx, SY2xx)",
        "The sync's own endings. A sync stopped by the SIS keeps the SIS's OR code; one "
        "that could not read some schools shows OR160 and names each school.",
        "The sync engine's endings (`sisapp.sync.errors.SyncErrorCode`); a run that ends "
        "with one of them changed no synced data and left the last sync date as it was.",
        SyncErrorCode,
    ),
)


def code_info(code: str | None) -> CodeInfo | None:
    """Name, meaning, what to do and the operator note of a code; None if unknown."""
    if not code:
        return None
    for section in SECTIONS:
        try:
            return CodeInfo.of(section.enum(code))
        except ValueError:
            continue
    return None


def _row(*cells: str) -> str:
    for cell in cells:
        if "|" in cell or "\n" in cell:
            raise ValueError(f"error-code text may not contain '|' or a newline: {cell!r}")
    return "| " + " | ".join(cells) + " |"


def error_codes_markdown() -> str:
    """docs/error-codes.md: admin tables per range, then the operator notes."""
    lines = [
        "# Error codes",
        "",
        "<!-- Generated from the error-code enums by `flask --app app docs error-codes`;"
        " edit the enums, not this file. -->",
        "",
        INTRO,
        "",
        "## When to contact Support",
        "",
        WHEN_TO_CONTACT_SUPPORT,
    ]
    for section in SECTIONS:
        lines += ["", f"## {section.title}", "", section.summary, ""]
        lines += [_row("Code", "Name", "Meaning", "What to do"), _row("---", "---", "---", "---")]
        lines += [_row(c.code, f"`{c.name}`", c.meaning, c.action) for c in section.codes]
    lines += ["", "## Notes for the server operator"]
    for section in SECTIONS:
        lines += ["", f"### {section.title}", "", section.operator_summary, ""]
        noted = [c for c in section.codes if c.operator_note]
        lines += [_row("Code", "Note"), _row("---", "---")]
        lines += [_row(f"{c.code} `{c.name}`", c.operator_note) for c in noted]
    return "\n".join(lines) + "\n"
