"""A web process pressing Sync: `script INTEGRATION_ID EMAIL PASSWORD BARRIER_DIR NAME ROUNDS`.

Signs in through the app's own pages (CSRF included) and writes BARRIER_DIR/NAME.ready.
Then, for each round R, waits for BARRIER_DIR/go.R and POSTs the Sync button as htmx
does, printing one line: the HTTP status, the run id the answer shows and whether it
said a sync was already in progress.
"""

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sisapp import create_app  # noqa: E402

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def token(html: str) -> str:
    match = TOKEN.search(html)
    return match.group(1) or match.group(2)


def main(
    integration_id: int, email: str, password: str, barrier: Path, name: str, rounds: int
) -> None:
    app = create_app()
    client = app.test_client()
    login_page = client.get("/auth/login").get_data(as_text=True)
    signed_in = client.post(
        "/auth/login",
        data={"email": email, "password": password, "csrf_token": token(login_page)},
    )
    assert signed_in.status_code == 302, signed_in.status_code
    csrf = token(client.get("/sis-integration/").get_data(as_text=True))
    (barrier / f"{name}.ready").touch()
    for round_ in range(rounds):
        go = barrier / f"go.{round_}"
        deadline = time.monotonic() + 60
        while not go.exists():
            if time.monotonic() > deadline:
                raise SystemExit("never released")
            time.sleep(0.001)
        response = client.post(
            f"/sis-integration/{integration_id}/sync",
            headers={"HX-Request": "true", "X-CSRFToken": csrf},
        )
        html = response.get_data(as_text=True)
        run = re.search(r'data-run-id="(\d+)"', html)
        print(response.status_code, run.group(1) if run else "-", "already" in html, flush=True)


if __name__ == "__main__":
    main(
        int(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5], int(sys.argv[6])
    )
