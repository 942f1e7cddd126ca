"""The fixed demo district the sync tests run against, its "today" and SIS credentials."""

from datetime import date

from sisapp.demo_sis import DistrictSpec

TODAY = date(2026, 2, 10)
CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret-9f3k2"
SPEC = DistrictSpec(schools=3, students=300, seed=11, today=TODAY)
