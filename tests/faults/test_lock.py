"""Item 10 (the lock): the tailnet steps run inside the repo lock too, so a second run cannot
change the tailnet policy while another one changes the repo."""

from __future__ import annotations

import fcntl
from pathlib import Path

from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from tests.conftest import make_gitops_repo
from tests.faults.conftest import Cli, no_traceback
from tests.integration.conftest import TEST_CLIENT_ID, TEST_CLIENT_SECRET
from tests.integration.test_migrate_flow import flow_config


def test_the_tailnet_steps_wait_for_the_repo_lock(
    tmp_path: Path,
    prefect_api: str,
    tf_path: Path,
    seeded: TailnetState,
    tailnet_emulator: TailnetEmulator,
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = str(flow_config(tmp_path, repo, tailnet_emulator.url, tf_path))
    creds = {"TS_OAUTH_CLIENT_ID": TEST_CLIENT_ID, "TS_OAUTH_CLIENT_SECRET": TEST_CLIENT_SECRET}
    policy, https = seeded.policy, seeded.settings["httpsEnabled"]
    with (repo / ".git" / "ingress2tailscale.lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run holds the repo
        done = Cli(tmp_path, prefect_api, creds).run(
            "--slice", "db", "--phase", "prereq", "--config", config
        )
    assert done.returncode == 2, done.stderr[-3000:]
    assert "error: " in done.stderr and "another ingress2tailscale run" in done.stderr
    no_traceback(done.stderr)
    writes = [r for r in seeded.request_log if r.method not in ("GET", "HEAD")]
    assert all(r.path.endswith(("/oauth/token", "/acl/validate")) for r in writes), writes
    assert (seeded.policy, seeded.settings["httpsEnabled"]) == (policy, https)
