"""One run at a time per GitOps repo and per tailnet policy, across machines: Prefect global
concurrency limits (created on first use, one slot each), held for the length of a run. A run
that cannot get them within `prefect.lock_wait_s` fails naming the run that holds them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.runtime import flow_run

from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import RepoLockedError

ACQUIRED = "prefect.concurrency-limit.acquired"


def limit_names(config: MigrationConfig) -> dict[str, str]:
    """Limit name -> what it guards, for the config's repo and tailnet."""
    repo = str(config.gitops.path.resolve())
    return {
        f"i2ts-repo-{_digest(repo)}": f"the GitOps repo {repo}",
        f"i2ts-tailnet-{_digest(config.tailnet)}": f"the tailnet {config.tailnet}",
    }


@contextmanager
def one_run_at_a_time(config: MigrationConfig) -> Iterator[None]:
    names = limit_names(config)
    _ensure_limits(list(names))
    me = flow_run.get_id()
    holder = ConcurrencyLeaseHolder(type="flow_run", id=UUID(me)) if me else None
    wait = config.prefect.lock_wait_s
    try:
        with concurrency(
            list(names),
            occupy=1,
            timeout_seconds=wait,
            holder=holder,
            strict=True,
            lease_duration=60,
        ):
            yield
    except TimeoutError as exc:
        held = "; ".join(f"{what} is held by {_holder(name)}" for name, what in names.items())
        raise RepoLockedError(
            f"another ingress2tailscale run holds this migration: {held}; waited {wait:.0f} s "
            "(prefect.lock_wait_s); nothing was changed"
        ) from exc


def _ensure_limits(names: list[str]) -> None:
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                with suppress(ObjectAlreadyExists):  # another run made it meanwhile
                    client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=name, limit=1)
                    )


def _holder(name: str) -> str:
    """The flow run named by the newest `acquired` event of the limit, as well as can be told."""
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(name)
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        answer = client.request(
            "POST",
            "/events/filter",
            json={
                "filter": {
                    "event": {"name": [ACQUIRED]},
                    "resource": {"id": [f"prefect.concurrency-limit.{limit.id}"]},
                    "occurred": {"since": since},
                    "order": "DESC",
                },
                "limit": 10,
            },
        )
    events: list[dict[str, Any]] = answer.json().get("events", [])
    for event in events:
        for related in event.get("related", []):
            if related.get("prefect.resource.role") == "flow-run":
                run = related.get("prefect.resource.name", "")
                run_id = str(related.get("prefect.resource.id", "")).rpartition(".")[2]
                return f"flow run {run} ({run_id})"
    return "a run whose name Prefect did not record"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
