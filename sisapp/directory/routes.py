from flask import current_app, render_template, request
from flask_login import current_user, login_required

from sisapp.directory import bp
from sisapp.extensions import db
from sisapp.services.directory import (
    classes_per_user,
    count_classrooms,
    count_directory,
    members_per_classroom,
    search_classrooms,
    search_directory,
)


def _page(stmt):
    return db.paginate(
        stmt, per_page=current_app.config["DIRECTORY_PAGE_SIZE"], max_per_page=200, error_out=False
    )


@bp.get("/")
@login_required
def index():
    """List the device's directory users, searchable by name or email."""
    device_id = current_user.device_id
    query = request.args.get("q", "")[:100]
    page = _page(search_directory(device_id, query))
    return render_template(
        "directory/index.html",
        page=page,
        query=query,
        total=count_directory(device_id),
        classrooms_total=count_classrooms(device_id),
        class_counts=classes_per_user([u.id for u in page.items]),
    )


@bp.get("/classrooms")
@login_required
def classrooms():
    """The device's classrooms with their member counts (they outlive a deleted integration)."""
    device_id = current_user.device_id
    query = request.args.get("q", "")[:100]
    page = _page(search_classrooms(device_id, query))
    return render_template(
        "directory/classrooms.html",
        page=page,
        query=query,
        total=count_directory(device_id),
        classrooms_total=count_classrooms(device_id),
        members=members_per_classroom([c.id for c in page.items]),
    )
