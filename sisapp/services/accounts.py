"""Devices and their admins."""

from datetime import timedelta
from functools import cache

from sqlalchemy import bindparam, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from sisapp.extensions import db
from sisapp.models import AdminUser, Device, Region
from sisapp.models.types import utcnow


class AccountError(ValueError):
    """A device or admin request that cannot be carried out; the message says why."""


# Built once: every signed-in request loads its admin (the polled status fragment every
# two seconds per open page), and Session.get builds its statement anew each time.
_ADMIN_BY_ID = select(AdminUser).where(AdminUser.id == bindparam("admin_id"))


def admin_by_id(admin_id: int) -> AdminUser | None:
    return db.session.scalar(_ADMIN_BY_ID, {"admin_id": admin_id})


def admin_for_session(user_id: str, max_age: timedelta) -> AdminUser | None:
    """The admin a session or remember-me cookie names ("<id>:<session token>"), if its
    token is still the admin's: a cookie from before a sign-out or new password is not,
    nor one whose token is older than `max_age` (a captured cookie dies with its token)."""
    admin_id, _, token = (user_id or "").partition(":")
    if not admin_id.isdigit() or not token:
        return None
    admin = admin_by_id(int(admin_id))
    if admin is None or not admin.has_session_token(token):
        return None
    return admin if admin.session_token_issued_at > utcnow() - max_age else None


def begin_session(admin: AdminUser, max_age: timedelta) -> None:
    """At sign-in: a token past `max_age` is replaced, so the new session can last."""
    if admin.session_token_issued_at <= utcnow() - max_age:
        end_sessions(admin)


def end_sessions(admin: AdminUser) -> None:
    """Sign the admin out everywhere: every session and remember-me cookie stops working."""
    admin.rotate_session_token()
    db.session.commit()


def get_device_by_name(name: str) -> Device:
    device = db.session.scalar(select(Device).where(Device.name == name))
    if device is None:
        raise AccountError(f"No device named {name!r}. Add it with: flask --app app device add")
    return device


def add_device(name: str, region: str) -> Device:
    name = name.strip()
    if not name:
        raise AccountError("A device needs a name.")
    try:
        region_value = Region(region)
    except ValueError as exc:
        raise AccountError(f"Region must be one of {', '.join(r.value for r in Region)}.") from exc
    if db.session.scalar(select(Device).where(Device.name == name)):
        raise AccountError(f"A device named {name!r} already exists.")
    device = Device(name=name, region=region_value)
    db.session.add(device)
    db.session.commit()
    return device


def add_admin(email: str, password: str, device: Device) -> AdminUser:
    email = email.strip().lower()
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address.")
    if len(password) < 8:
        raise AccountError("The password must have at least 8 characters.")
    if db.session.scalar(select(AdminUser).where(func.lower(AdminUser.email) == email)):
        raise AccountError(f"An admin {email} already exists.")
    admin = AdminUser(email=email, device=device)
    admin.set_password(password)
    db.session.add(admin)
    db.session.commit()
    return admin


@cache
def _timing_hash() -> str:
    """A throwaway hash so a wrong email costs as much time as a wrong password."""
    return generate_password_hash("not-a-password")


def authenticate(email: str, password: str) -> AdminUser | None:
    admin = db.session.scalar(
        select(AdminUser).where(func.lower(AdminUser.email) == (email or "").strip().lower())
    )
    if admin is None:
        check_password_hash(_timing_hash(), password or "")
        return None
    return admin if admin.check_password(password or "") else None
