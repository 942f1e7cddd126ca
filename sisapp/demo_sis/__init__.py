"""Demo SIS: a generated school district served over OneRoster v1.1 and v1.2.

A development tool for trying, testing and benchmarking the integration without real
SIS credentials. It imports nothing from the rest of ``sisapp``, so tests and the
benchmark can start it without an app, a database or Redis.
"""

from .district import District
from .faults import Faults
from .generator import DistrictSpec, generate_district
from .server import DemoSISServer

__all__ = ["DemoSISServer", "District", "DistrictSpec", "Faults", "generate_district"]
