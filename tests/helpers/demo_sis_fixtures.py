"""The demo SIS and the device's directory, as fixtures (a plugin of tests/conftest.py):
the fault, sync and job suites give them their own `district` and `sis_credentials`."""

import pytest

from tests.helpers.demo_sis import import_directory, running_sis


@pytest.fixture
def sis(district, sis_credentials):
    with running_sis(district, *sis_credentials) as server:
        yield server


@pytest.fixture
def directory(device, district, tmp_path):
    return import_directory(device, district, tmp_path)
