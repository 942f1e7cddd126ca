"""`flask --app app docs error-codes [--check]`: documents generated from the code.

docs/error-codes.md is written from the error-code enums; `--check` lets CI fail when
someone edited an enum and forgot to regenerate the file.
"""

from pathlib import Path

import click
from flask.cli import AppGroup

from sisapp import PROJECT_ROOT

docs_cli = AppGroup("docs", help="Write the documents generated from the code.")

EXIT_STALE = 1


@docs_cli.command("error-codes")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the file is stale.")
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=PROJECT_ROOT / "docs" / "error-codes.md",
    show_default=True,
)
def error_codes_command(check: bool, path: Path) -> None:
    """Generate docs/error-codes.md from the error-code enums."""
    from sisapp.services.error_codes import error_codes_markdown

    text = error_codes_markdown()
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if check:
        if current != text:
            click.echo(f"{path} is stale: run `flask --app app docs error-codes`.", err=True)
            raise SystemExit(EXIT_STALE)
        click.echo(f"{path} is up to date.")
        return
    if current != text:
        path.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {path}.")
