"""Hypothesis settings and hostile text shared by the bad-input tests.

Examples are derandomized (the same ones on every run, so CI is stable) and few, and no
example database is written; function-scoped fixtures are fine because each example
resets what it touches itself.
"""

import unicodedata

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def fast(max_examples: int = 40) -> settings:
    """Few, fixed examples without a deadline (a sync or a request takes its time)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


NASTY = [
    "",
    " ",
    "<script>alert(1)</script>",
    "<b>bold</b> & co",
    "\x00",
    "a\x00b",
    "tab\there",
    "line\r\nbreak",
    "\x1b[31mred",
    "\u202eevil",
    "\u0085\u2028",
    "😀" * 3,
    "x" * 5000,
    "Robert'); DROP TABLE directory_user;--",
    "=cmd|' /C calc'!A0",
    "https://",
    "https://sis.example.org/ims/oneroster/v1p1",
    "http://127.0.0.1:9/ims/oneroster/v1p1",
    "https://sis.example.org/\x00",
    "https://sis.example.org/" + "p" * 600,
]
texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=30), st.text(min_size=100, max_size=800))


def has_control(value: str | None) -> bool:
    """Control characters or lone surrogates: what no stored name or URL may hold."""
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value or "")
