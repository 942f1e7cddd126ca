"""The School Manager directory that goes with a demo district, as CSV.

The directory is fixed when the district is generated: later record changes
(``apply_changes``) never alter it, exactly like a real directory imported once.
"""

from __future__ import annotations

import csv
from pathlib import Path

DIRECTORY_COLUMNS = ("email", "given_name", "family_name", "kind", "source")


def write_directory_csv(rows, path) -> None:
    """Write ``rows`` with the header ``email,given_name,family_name,kind,source``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=DIRECTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
