"""Issue 19: the directory fingerprint a delta compares (``rematch.directory_fingerprint``)
is built by the database in one row, and is exactly the digest of every (id, email) in id
order that matching reads, so fingerprints stored before the change stay valid."""

import hashlib
import random

from sqlalchemy import insert, update

from sisapp.extensions import db
from sisapp.models import DirectoryUser, UserKind
from sisapp.sync.rematch import directory_fingerprint
from tests.helpers.app import make_device


def _reference(rows: list[tuple[int, str]]) -> list:
    digest = hashlib.sha256()
    for ident, email in sorted(rows):
        digest.update(f"{ident}\x1f{email}\x1e".encode())
    return [len(rows), digest.hexdigest()]


def _fingerprint(device_id: int) -> list:
    with db.engine.connect() as conn:
        return directory_fingerprint(conn, device_id)


def test_the_database_digest_is_the_python_one_in_id_order(app):
    mine, other = make_device("Fingerprinted"), make_device("Someone else")
    ids = list(range(10, 2010, 2))
    random.Random(5).shuffle(ids)  # inserted out of order: the digest follows the ids
    rows = [(i, f"user.{i}.ünï@example.org") for i in ids]
    db.session.execute(insert(DirectoryUser), [
        {"id": i, "device_id": mine.id, "email": e, "kind": UserKind.STUDENT} for i, e in rows
    ] + [{"id": 5000 + n, "device_id": other.id, "email": f"o{n}@example.org",
          "kind": UserKind.STUDENT} for n in range(50)])  # fmt: skip
    db.session.commit()
    assert _fingerprint(mine.id) == _reference(rows)

    db.session.execute(
        update(DirectoryUser).where(DirectoryUser.id == ids[7]).values(email="changed@example.org")
    )
    db.session.commit()
    rows[7] = (ids[7], "changed@example.org")
    assert _fingerprint(mine.id) == _reference(rows)
    # Another device's directory is not part of it.
    db.session.execute(update(DirectoryUser).where(DirectoryUser.device_id == other.id).values(email=DirectoryUser.email + ".x"))  # fmt: skip
    db.session.commit()
    assert _fingerprint(mine.id) == _reference(rows)


def test_an_empty_directory(app):
    device = make_device("Empty")
    assert _fingerprint(device.id) == [0, hashlib.sha256(b"").hexdigest()]
