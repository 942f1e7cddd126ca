"""The ``flask oneroster check`` contract: options, JSON keys on the last line, exit codes."""

import json

import pytest
from flask import Flask

from sisapp.cli.oneroster import oneroster_cli
from tests.helpers.oneroster import SECRET

LOCAL = "http://127.0.0.1:5999/ims/oneroster/v1p1"
KEYS = {"ok", "version", "auth", "schools", "error_code", "message"}


@pytest.fixture
def runner():
    app = Flask(__name__)
    app.config["ALLOW_PRIVATE_SIS_URLS"] = True
    app.cli.add_command(oneroster_cli)
    return app, app.test_cli_runner()


def test_check_json_ok(runner, requests_mock, monkeypatch):
    app, cli = runner
    monkeypatch.setenv("SISAPP_CLIENT_SECRET", SECRET)
    requests_mock.get(LOCAL + "/schools", json={"orgs": [{"sourcedId": "s1"}, {"sourcedId": "s2"}]})
    result = cli.invoke(
        args=["oneroster", "check", "--endpoint", LOCAL, "--client-id", "id", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert set(data) == KEYS
    assert data["ok"] is True and data["version"] == "v1p1"
    assert data["auth"] == "oauth1-hmac-sha256" and data["schools"] == 2
    assert SECRET not in result.output


def test_check_json_not_connected_exit_2(runner, requests_mock, monkeypatch):
    app, cli = runner
    monkeypatch.setenv("SISAPP_CLIENT_SECRET", SECRET)
    requests_mock.post(
        "http://127.0.0.1:5999/token", status_code=401, json={"error": "invalid_client"}
    )
    result = cli.invoke(
        args=[
            "oneroster",
            "check",
            "--endpoint",
            LOCAL,
            "--token-url",
            "http://127.0.0.1:5999/token",
            "--client-id",
            "id",
            "--json",
        ]
    )
    assert result.exit_code == 2
    data = json.loads(result.output.strip().splitlines()[-1])
    assert set(data) == KEYS
    assert data["ok"] is False and data["error_code"] == "OR120" and data["auth"] == "oauth2"
    assert SECRET not in result.output


def test_check_refuses_private_unless_allowed(runner, monkeypatch, requests_mock):
    app, cli = runner
    app.config["ALLOW_PRIVATE_SIS_URLS"] = False
    monkeypatch.setenv("SISAPP_CLIENT_SECRET", SECRET)
    result = cli.invoke(
        args=["oneroster", "check", "--endpoint", LOCAL, "--client-id", "id", "--json"]
    )
    assert result.exit_code == 2
    assert json.loads(result.output.strip().splitlines()[-1])["error_code"] == "OR101"
    assert requests_mock.call_count == 0


def test_check_prompts_for_secret_and_prints_text(runner, requests_mock, monkeypatch):
    app, cli = runner
    monkeypatch.delenv("SISAPP_CLIENT_SECRET", raising=False)
    requests_mock.get(LOCAL + "/schools", json={"orgs": []})
    requests_mock.get(LOCAL + "/orgs", json={"orgs": [{"sourcedId": "d", "type": "district"}]})
    result = cli.invoke(
        args=["oneroster", "check", "--endpoint", LOCAL, "--client-id", "id"], input=SECRET + "\n"
    )
    assert result.exit_code == 0
    assert "Connected" in result.output
    assert "1 organisation (district: 1) and no school" in result.output
    assert SECRET not in result.output  # hidden prompt
