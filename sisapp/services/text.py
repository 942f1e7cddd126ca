"""Checks on names people type or import, shared by the directory and the integrations."""

# Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they make a name
# display in an order other than the one stored ("Trojan Source"), so a list can lie.
_BIDI_OVERRIDES = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def has_bidi_override(text: str) -> bool:
    return not _BIDI_OVERRIDES.isdisjoint(text)
