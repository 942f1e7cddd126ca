from flask import current_app, render_template, request
from flask_login import current_user, login_required

from sisapp.directory import bp
from sisapp.extensions import db
from sisapp.services.directory import count_directory, search_directory


@bp.get("/")
@login_required
def index():
    """List the device's directory users, searchable by name or email."""
    query = request.args.get("q", "")[:100]
    page = db.paginate(
        search_directory(current_user.device_id, query),
        per_page=current_app.config["DIRECTORY_PAGE_SIZE"],
        max_per_page=200,
        error_out=False,
    )
    return render_template(
        "directory/index.html",
        page=page,
        query=query,
        total=count_directory(current_user.device_id),
    )
