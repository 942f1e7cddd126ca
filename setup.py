"""Ships the top-level templates/ and static/ inside the sisapp package of a wheel.

The customer's layout keeps them beside the package (securedrop style); an installed
wheel has no such neighbour, so the build copies them to sisapp/templates and
sisapp/static, where the app factory looks first. Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("templates", "static")


class BuildWithPages(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install serves them from the source tree
        for name in SHIPPED:
            target = Path(self.build_lib) / "sisapp" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(ROOT / name, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        for name in SHIPPED:
            source = ROOT / name
            outputs += [
                str(Path(self.build_lib) / "sisapp" / name / path.relative_to(source))
                for path in source.rglob("*")
                if path.is_file()
            ]
        return outputs


setup(cmdclass={"build_py": BuildWithPages})
