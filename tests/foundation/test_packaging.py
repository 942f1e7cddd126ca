"""`pip install .` gives a package that can serve pages: the wheel carries the top-level
templates/ and static/ inside sisapp/, and the migrations' non-Python files."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _build_wheel(tmp_path: Path) -> set[str]:
    # A copy, so the build's build/ and egg-info never touch the working tree.
    source = tmp_path / "src"
    for name in ("sisapp", "templates", "static"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(dist)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("sisapp-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def _tracked(folder: Path, prefix: str) -> set[str]:
    return {
        f"{prefix}/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.slow
def test_wheel_ships_templates_static_and_migrations(tmp_path):
    names = _build_wheel(tmp_path)
    assert _tracked(ROOT / "templates", "sisapp/templates") <= names
    assert _tracked(ROOT / "static", "sisapp/static") <= names
    assert "sisapp/templates/integrations/error_codes.html" in names
    assert any(n.startswith("sisapp/static/htmx-") for n in names)
    migrations = ROOT / "sisapp" / "migrations"
    expected = {p for p in _tracked(migrations, "sisapp/migrations") if "__pycache__" not in p}
    assert expected <= names
    assert {"sisapp/migrations/alembic.ini", "sisapp/migrations/script.py.mako"} <= names
    assert not any(n.startswith(("tests/", "bench/", "templates/", "static/")) for n in names)
