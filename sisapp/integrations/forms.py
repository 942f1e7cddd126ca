"""Forms of the SIS Integration pages.

The forms parse and carry CSRF; the rules (required fields, URLs, the PowerSchool parent
rule) live in `sisapp.services.integrations.validate`, so the CLI and the pages agree.
Its errors are put back on these fields by name.
"""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from sisapp.keys import SecretBox, SecretUnreadable
from sisapp.models import RelationshipType, SisVendor
from sisapp.services.integrations import IntegrationData


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ServiceForm(FlaskForm):
    """A form whose service may refuse the data with field-keyed messages."""

    def put_errors(self, errors: dict[str, str]) -> None:
        """Show a service's field errors on the matching fields (others on the form)."""
        for name, message in errors.items():
            field = self._fields.get(name)
            if field is None:
                self.form_errors.append(message)
            else:
                field.errors = [*field.errors, message]


class IntegrationForm(ServiceForm):
    """Add/Edit OneRoster Sync: fields in the order an admin reads them."""

    sis_vendor = SelectField(
        "Which SIS would you like to integrate?",
        choices=[SelectChoice(v.value, v.label) for v in SisVendor],
        default=SisVendor.OTHER.value,
    )
    name = StringField("Name", filters=[_strip])
    endpoint_url = StringField("Endpoint URL", filters=[_strip])
    token_url = StringField("OAuth2 Token URL (optional)", filters=[_strip])
    client_id = StringField("Client ID", filters=[_strip])
    client_secret = PasswordField("Client Secret")
    # The secret the admin typed, encrypted, so a dialog that comes back with a field
    # error keeps it without the plaintext ever reaching the page (``keep_secret``).
    kept_secret = HiddenField()
    sync_classes = BooleanField("Sync Classroom Data", default=True)
    respect_enrolment_date = BooleanField("Respect Enrolment Date")
    respect_academic_sessions = BooleanField("Respect Academic Sessions")
    sync_parents = BooleanField("Sync Parent Data")
    relationship_type = SelectField(
        "Relationship Type",
        choices=[SelectChoice("", "Choose a relationship type")]
        + [SelectChoice(r.value, r.label) for r in RelationshipType],
        default="",
    )
    # Blank: the deployment's SYNC_CONCURRENCY; the range is the service's rule.
    max_concurrency = IntegerField("Most requests at once", validators=[Optional()])
    # Only asked when another integration of the device reads the same endpoint.
    same_endpoint_ok = BooleanField("Add it anyway: I want both integrations")

    HELP = {
        "sis_vendor": "The product your school runs. Choose Other for any OneRoster 1.1 or 1.2 server.",
        "name": "A name you will recognise in this list, for example the district's name.",
        "endpoint_url": "The OneRoster base URL from your SIS's OneRoster (or API plug-in) settings, e.g. https://sis.example.org/ims/oneroster/v1p1.",
        "token_url": "Only for OAuth 2.0: the access-token URL shown next to the client ID in your SIS (PowerSchool: https://<server>/oauth/access_token). Leave empty for OAuth 1.0a.",
        "client_id": "The client ID (consumer key) your SIS issued when you registered School Manager as a OneRoster application.",
        "client_secret": "The client secret issued with the client ID. It is stored encrypted and never shown again.",
        "sync_classes": "Create classrooms from the SIS's classes and enrol the matched students and teachers.",
        "respect_enrolment_date": "Only sync enrolments whose begin and end dates include today.",
        "respect_academic_sessions": "Only sync classes whose term (academic session) is current.",
        "sync_parents": "Also import parents, guardians or relatives linked to students in the SIS.",
        "relationship_type": "Which kind of linked adult to import as a parent.",
        "max_concurrency": "How many requests a sync sends to the SIS at once (1 to 32); leave blank for the default. Some SIS vendors ask for 5 or fewer.",
    }
    KEPT_SECRET_HELP = (
        "The secret you typed is kept (not shown again). Type it again only to change it."
    )
    EDIT_SECRET_HELP = (
        "Leave blank to keep the stored secret. It is stored encrypted and never shown."
    )

    KEPT_PREFIX = "kept:"  # a stored secret's token never passes for a kept one

    def restore_secret(self, box: SecretBox) -> None:
        """A blank secret field with a kept secret: use what the admin typed before."""
        if self.client_secret.data or not self.kept_secret.data:
            return
        try:
            plain = box.decrypt(self.kept_secret.data)
        except SecretUnreadable:
            plain = ""
        if plain.startswith(self.KEPT_PREFIX):
            self.client_secret.data = plain[len(self.KEPT_PREFIX) :]

    def keep_secret(self, box: SecretBox) -> bool:
        """Before re-rendering: carry the typed secret encrypted; True when one is kept."""
        if self.client_secret.data:
            self.kept_secret.data = box.encrypt(self.KEPT_PREFIX + self.client_secret.data)
        else:
            self.kept_secret.data = ""
        return bool(self.kept_secret.data)

    def put_errors(self, errors: dict[str, str]) -> None:
        """PowerSchool refuses parents whatever the relationship type: one error, not two."""
        if "sync_parents" in errors:
            errors = {k: v for k, v in errors.items() if k != "relationship_type"}
        super().put_errors(errors)

    def to_data(self) -> IntegrationData:
        return IntegrationData(
            name=self.name.data or "",
            sis_vendor=self.sis_vendor.data or "",
            endpoint_url=self.endpoint_url.data or "",
            token_url=self.token_url.data or None,
            client_id=self.client_id.data or "",
            client_secret=self.client_secret.data or None,
            sync_classes=bool(self.sync_classes.data),
            respect_enrolment_date=bool(self.respect_enrolment_date.data),
            respect_academic_sessions=bool(self.respect_academic_sessions.data),
            sync_parents=bool(self.sync_parents.data),
            relationship_type=self.relationship_type.data or None,
            max_concurrency=self.max_concurrency.data,
        )


class ExcludeSchoolsForm(ServiceForm):
    """The Excluded Schools list is the submitted value; everything else is included."""

    excluded = SelectMultipleField("Excluded Schools", choices=[], validate_choice=False)


class ConfirmForm(FlaskForm):
    """Reset and Delete: nothing happens until "I Understand" is ticked (here, not only in JS)."""

    understand = BooleanField(
        "I Understand",
        validators=[InputRequired(message="Tick “I Understand” to continue.")],
    )
