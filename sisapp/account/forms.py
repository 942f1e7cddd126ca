from flask_wtf import FlaskForm
from wtforms import BooleanField


class NotificationsForm(FlaskForm):
    sync_emails = BooleanField(
        "Email me when a sync fails, partly fails or is blocked, and when it is back to normal"
    )
