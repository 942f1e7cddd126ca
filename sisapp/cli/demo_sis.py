"""``flask --app app demo-sis``: serve a generated district for a new user to try.

Registered by the app factory; kept in ``sisapp.cli`` so the server package
stays importable without click or Flask wiring.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from sisapp.demo_sis import DemoSISServer, DistrictSpec, Faults, generate_district
from sisapp.demo_sis.faults import parse_malformed_at

VERSION_CHOICES = {"v1p1": ("v1p1",), "v1p2": ("v1p2",), "both": ("v1p1", "v1p2")}


@click.command("demo-sis")
@click.option("--schools", default=3, show_default=True, help="Number of schools.")
@click.option("--students", default=2000, show_default=True, help="Number of students.")
@click.option("--seed", default=1, show_default=True, help="Same seed, same district.")
@click.option("--port", default=8765, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--version-mode", type=click.Choice(list(VERSION_CHOICES)), default="both", show_default=True
)
@click.option("--client-id", default="demo-client", show_default=True)
@click.option("--client-secret", default="demo-secret", show_default=True)
@click.option(
    "--token-lifetime", default=3600, show_default=True, help="OAuth2 expires_in, seconds."
)
@click.option(
    "--directory-out",
    default=None,
    help="Where to write the matching directory CSV [default: INSTANCE/demo-directory.csv].",
    type=click.Path(dir_okay=False),
)
@click.option(
    "--expected-out",
    default=None,
    help="Where to write the expected Sync Details [default: INSTANCE/demo-expected.json].",
    type=click.Path(dir_okay=False),
)
@click.option(
    "--unmatched-share",
    default=0.05,
    show_default=True,
    help="Share of SIS students/teachers left out of the directory.",
)
@click.option(
    "--latency", "latency_ms", default=0, help="Fault: milliseconds of delay per request."
)
@click.option("--error-rate", default=0.0, help="Fault: share of requests answered 500.")
@click.option("--rate-limit-rate", default=0.0, help="Fault: share of requests answered 429.")
@click.option("--retry-after", default=1, show_default=True, help="Retry-After of 429 answers.")
@click.option("--max-page-size", type=int, default=None, help="Fault: cap limit silently.")
@click.option("--no-total-count", is_flag=True, help="Fault: omit X-Total-Count.")
@click.option(
    "--malformed-at", default=None, metavar="COLLECTION:OFFSET", help="Fault: truncated JSON page."
)
@click.option(
    "--broken-school",
    default=None,
    metavar="SOURCED_ID|INDEX",
    help="Fault: that school's endpoints fail.",
)
@click.option(
    "--token-expiry",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Fault: tokens die after this long.",
)
@click.option(
    "--changed-share",
    default=0.0,
    metavar="FRACTION",
    help="Edit this share of records now, for a delta sync.",
)
@click.option("--log-requests", is_flag=True, help="Print one line per request.")
def demo_sis_command(**opts):
    """Serve a generated school district over OneRoster v1.1 and v1.2 until Ctrl-C."""
    instance = Path(current_app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    opts["directory_out"] = opts["directory_out"] or str(instance / "demo-directory.csv")
    opts["expected_out"] = opts["expected_out"] or str(instance / "demo-expected.json")
    spec = DistrictSpec(
        schools=opts["schools"],
        students=opts["students"],
        seed=opts["seed"],
        unmatched_share=opts["unmatched_share"],
    )
    click.echo(f"Generating {spec.schools} schools, {spec.students} students (seed {spec.seed})...")
    district = generate_district(spec)
    if opts["changed_share"]:
        summary = district.apply_changes(opts["changed_share"], spec.seed)
        click.echo(f"Changed records (dateLastModified now): {summary}")
    district.write_directory_csv(opts["directory_out"])
    district.write_expected_json(opts["expected_out"])
    faults = Faults(
        latency_ms=opts["latency_ms"],
        error_rate=opts["error_rate"],
        rate_limit_rate=opts["rate_limit_rate"],
        retry_after=opts["retry_after"],
        max_page_size=opts["max_page_size"],
        no_total_count=opts["no_total_count"],
        malformed_at=parse_malformed_at(opts["malformed_at"]),
        broken_school=opts["broken_school"],
        token_expiry=opts["token_expiry"],
        seed=spec.seed,
    )
    server = DemoSISServer(
        district,
        faults=faults,
        client_id=opts["client_id"],
        client_secret=opts["client_secret"],
        token_lifetime=opts["token_lifetime"],
        host=opts["host"],
        port=opts["port"],
        versions=VERSION_CHOICES[opts["version_mode"]],
        quiet=not opts["log_requests"],
    )
    _print_instructions(server, district, opts)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("\nStopped.")


def _print_instructions(server, district, opts) -> None:
    counts = district.expected_counts()
    lines = [
        "",
        "Demo SIS is running.",
        f"  Endpoint URL (root): {server.root_url}",
    ]
    for version in server.versions:
        lines.append(f"  OneRoster {version}:      {server.base_url(version)}")
    lines += [
        f"  Token URL (OAuth 2): {server.token_url}",
        f"  Client ID:           {server.client_id}",
        f"  Client secret:       {server.client_secret}",
        "  (OAuth 1.0a HMAC-SHA256 with the same id and secret works too)",
        "",
        f"Directory written to {opts['directory_out']}; import it with:",
        f'  .venv/bin/flask --app app directory import {opts["directory_out"]} --device "Demo School"',
        f"Expected Sync Details for every option set: {opts['expected_out']}",
        f"  default options: {counts}",
        "",
        "Press Ctrl-C to stop.",
    ]
    click.echo("\n".join(lines))
