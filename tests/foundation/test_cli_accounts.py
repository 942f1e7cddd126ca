from sqlalchemy import select

from sisapp.extensions import db
from sisapp.models import AdminUser, Device


def test_device_and_admin_add(app, monkeypatch):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["device", "add", "Lakeside", "--region", "au"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Device).where(Device.name == "Lakeside")).region.value == "au"
    monkeypatch.setenv("SISAPP_ADMIN_PASSWORD", "long-enough-pw")
    result = runner.invoke(args=["admin", "add", "Boss@Lakeside.example", "--device", "Lakeside"])
    assert result.exit_code == 0, result.output
    admin = db.session.scalar(select(AdminUser))
    assert admin.email == "boss@lakeside.example" and admin.check_password("long-enough-pw")
    assert "long-enough-pw" not in admin.password_hash


def test_bad_region_and_duplicate_device(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["device", "add", "X", "--region", "mars"]).exit_code == 2
    assert runner.invoke(args=["device", "add", "X", "--region", "uk"]).exit_code == 0
    result = runner.invoke(args=["device", "add", "X", "--region", "uk"])
    assert result.exit_code == 1 and "already exists" in result.output


def test_admin_password_prompt_and_short_password(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["device", "add", "X", "--region", "uk"])
    result = runner.invoke(
        args=["admin", "add", "a@x.example", "--device", "X"], input="short\nshort\n"
    )
    assert result.exit_code == 1 and "at least 8" in result.output
    result = runner.invoke(
        args=["admin", "add", "a@x.example", "--device", "X"], input="longpassword\nlongpassword\n"
    )
    assert result.exit_code == 0, result.output
