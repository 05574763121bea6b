"""Failure notifications: a Prefect automation that calls the user's webhook when a drift or
migrate run fails. The URL is a secret: it is read from an environment variable or a Prefect
Secret block and kept in a Prefect Webhook block, never in the config, a log or an artifact."""

from __future__ import annotations

import os
from collections.abc import Sequence
from uuid import UUID

from prefect.automations import Automation
from prefect.blocks.system import Secret
from prefect.blocks.webhook import Webhook
from prefect.events.actions import CallWebhook
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.exceptions import ObjectNotFound
from pydantic import SecretStr

from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import ConfigError

AUTOMATION = "ingress2tailscale: a drift or migrate run failed"
WEBHOOK_BLOCK = "ingress2tailscale-notify"
PAYLOAD = (
    '{"text": "ingress2tailscale: {{ flow.name }} run {{ flow_run.name }} failed: '
    '{{ flow_run.state.message }}"}'
)


def webhook_url(config: MigrationConfig) -> str | None:
    """The configured webhook URL, from its environment variable or Secret block."""
    notify = config.notify
    if notify.webhook_env:
        url = os.environ.get(notify.webhook_env)
        if not url:
            raise ConfigError(
                f"{config.source_path}: notify.webhook_env names {notify.webhook_env}, which is "
                "not set; export the webhook URL in it"
            )
        return url
    if notify.webhook_secret_block:
        try:
            return str(Secret.load(notify.webhook_secret_block).get())  # type: ignore[union-attr]
        except ValueError as exc:
            raise ConfigError(
                f"{config.source_path}: notify.webhook_secret_block: no Prefect Secret block "
                f"named {notify.webhook_secret_block!r}; create it (prefect block create secret)"
            ) from exc
    return None


def notify_on_failure(url: str, deployments: Sequence[UUID], allow_private: bool) -> None:
    """Create (or bring up to date) the automation that calls `url` when a run of one of
    `deployments` fails. Safe to call at every start: there is one automation of that name."""
    block = Webhook(method="POST", url=SecretStr(url), allow_private_urls=allow_private)
    block_id = block.save(WEBHOOK_BLOCK, overwrite=True)
    assert isinstance(block_id, UUID)  # sync call: not a coroutine
    trigger = EventTrigger(
        expect={"prefect.flow-run.Failed"},
        match_related={"prefect.resource.id": [f"prefect.deployment.{d}" for d in deployments]},
        posture=Posture.Reactive,
        threshold=1,
    )
    wanted = Automation(
        name=AUTOMATION,
        description="Calls the notify webhook when a drift or migrate run fails.",
        enabled=True,
        trigger=trigger,
        actions=[CallWebhook(block_document_id=block_id, payload=PAYLOAD)],
    )
    try:
        existing = Automation.read(name=AUTOMATION)
    except (ObjectNotFound, ValueError):  # Prefect 3.9 says "not found" with a ValueError
        wanted.create()
        return
    assert isinstance(existing, Automation)  # sync call: not a coroutine
    existing.trigger, existing.actions, existing.enabled = trigger, wanted.actions, True
    existing.update()
