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


def _render_page(template: str, search, counts_for, counts_name: str):
    """A searchable, paged list of the device's users or classrooms, with both totals."""
    device_id = current_user.device_id
    query = request.args.get("q", "")[:100]
    page = db.paginate(
        search(device_id, query),
        per_page=current_app.config["DIRECTORY_PAGE_SIZE"],
        max_per_page=200,
        error_out=False,
    )
    return render_template(
        template,
        page=page,
        query=query,
        total=count_directory(device_id),
        classrooms_total=count_classrooms(device_id),
        **{counts_name: counts_for([item.id for item in page.items])},
    )


@bp.get("/")
@login_required
def index():
    """The device's directory users, searchable by name or email."""
    return _render_page("directory/index.html", search_directory, classes_per_user, "class_counts")


@bp.get("/classrooms")
@login_required
def classrooms():
    """The device's classrooms with member counts (they outlive a deleted integration)."""
    return _render_page(
        "directory/classrooms.html", search_classrooms, members_per_classroom, "members"
    )
