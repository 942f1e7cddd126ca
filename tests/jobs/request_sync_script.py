"""Ask for a sync from a separate process at an agreed instant: `script INTEGRATION_ID AT`.

Prints "<run id> <created>". Used to prove two processes asking at once make one run.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sisapp import create_app  # noqa: E402
from sisapp.extensions import db  # noqa: E402
from sisapp.models import OneRosterIntegration  # noqa: E402
from sisapp.services.sync_runs import request_sync  # noqa: E402


def main(integration_id: int, at: float) -> None:
    app = create_app()
    with app.app_context():
        integration = db.session.get(OneRosterIntegration, integration_id)
        db.session.rollback()  # no open transaction while waiting
        time.sleep(max(0.0, at - time.time()))
        run, created = request_sync(integration)
        print(run.id, created)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
