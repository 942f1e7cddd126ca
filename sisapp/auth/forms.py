from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    # No format check here: the account lookup is the check, and a format rule
    # would only turn a typo into a different message.
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=254)], filters=[lambda v: (v or "").strip()]
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Keep me signed in")


class EmptyForm(FlaskForm):
    """A bare POST form: every button that changes state carries a CSRF token."""
