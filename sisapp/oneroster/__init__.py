"""OneRoster 1.1/1.2 REST client: settings in, typed records out.

Knows nothing of Flask or the database, so the sync job, the admin pages and the CLI
share it, and it can be tested with requests-mock alone.
"""

from .check import ConnectionCheck
from .client import OneRosterClient
from .errors import ErrorCode, OneRosterError
from .records import AcademicSession, Class, Course, Enrollment, Org, User, UserRole
from .settings import ConnectionSettings

__all__ = [
    "AcademicSession",
    "Class",
    "ConnectionCheck",
    "ConnectionSettings",
    "Course",
    "Enrollment",
    "ErrorCode",
    "OneRosterClient",
    "OneRosterError",
    "Org",
    "User",
    "UserRole",
]
