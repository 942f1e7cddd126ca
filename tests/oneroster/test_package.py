"""Package boundaries: the client imports no Flask, database or other app code."""

import ast
import pickle
from pathlib import Path

import sisapp.oneroster as oneroster
from sisapp.oneroster import ErrorCode, OneRosterError

PACKAGE = Path(oneroster.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def test_no_flask_sqlalchemy_or_app_imports():
    for path in PACKAGE.glob("*.py"):
        for module in imported_modules(path):
            root = module.split(".")[0]
            assert root not in {"flask", "flask_sqlalchemy", "sqlalchemy", "sisapp"}, (path, module)


def test_modules_stay_small():
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) < 400, path


def test_public_names():
    for name in (
        "ConnectionSettings",
        "OneRosterClient",
        "OneRosterError",
        "ConnectionCheck",
        "Org",
        "AcademicSession",
        "Course",
        "Class",
        "User",
        "Enrollment",
        "UserRole",
        "ErrorCode",
    ):
        assert hasattr(oneroster, name)
    assert ErrorCode.BAD_CREDENTIALS.action and ErrorCode.BAD_CREDENTIALS.meaning


def test_error_pickles_with_school_fields():
    error = OneRosterError(
        ErrorCode.SCHOOL_READ_FAILED,
        "x",
        status=500,
        path="/p",
        cause_code=ErrorCode.TIMEOUT,
        school_id="s1",
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.cause_code, copy.school_id, str(copy)) == (
        error.code,
        error.cause_code,
        error.school_id,
        str(error),
    )
