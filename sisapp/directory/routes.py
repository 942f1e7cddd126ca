from flask import current_app, render_template, request
from flask_login import current_user, login_required

from sisapp.directory import bp
from sisapp.extensions import db
from sisapp.services.directory import (
    classes_per_user,
    count_classrooms,
    count_directory,
    count_parents,
    integration_names,
    members_per_classroom,
    parents_for,
    search_classrooms,
    search_directory,
    search_parents,
)


def _render_page(template: str, search, counts_for, counts_name: str, **extra):
    """A searchable, paged list of the device's users, classrooms or parents, with totals."""
    device_id = current_user.device_id
    query = request.args.get("q", "")[:100]
    page = db.paginate(
        search(device_id, query),
        per_page=current_app.config["DIRECTORY_PAGE_SIZE"],
        max_per_page=200,
        error_out=False,
    )
    # Parents page by group id (an int); users and classrooms by row.
    ids = [getattr(item, "id", item) for item in page.items]
    return render_template(
        template,
        page=page,
        query=query,
        total=count_directory(device_id),
        classrooms_total=count_classrooms(device_id),
        parents_total=count_parents(device_id),
        **{counts_name: counts_for(ids)},
        **extra,
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
        "directory/classrooms.html",
        search_classrooms,
        members_per_classroom,
        "members",
        integration_names=integration_names(current_user.device_id),
    )


@bp.get("/parents")
@login_required
def parents():
    """Parents, guardians and relatives synced from the SIS, with their linked students."""
    return _render_page("directory/parents.html", search_parents, parents_for, "parents")
