"""The sandbox's stand-in for `terraform apply -target=tailscale_oauth_client.NAME`: reads the
client from the .tf file and sets its scopes, tags and description through the (emulated) API.

    python -m ingress2tailscale.sandbox.terraform_apply --tf PATH \
        --resource tailscale_oauth_client.k8s_operator --api-url URL --client-id ID

Credentials come from the environment (TS_API_KEY, or TS_OAUTH_CLIENT_ID + _SECRET)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ingress2tailscale.adapters.tailscale_api import Key, TailscaleClient, credentials_from_env
from ingress2tailscale.edit.terraform import OAuthClientResource, find_oauth_client
from ingress2tailscale.errors import ConfigError, CredentialsError, MigrationError

NO_CHANGES = "No changes. Your infrastructure matches the configuration."
SUMMARY = "Apply complete! Resources: 0 added, {changed} changed, 0 destroyed."


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        lines = apply_oauth_client(
            args.tf, args.resource, args.api_url, args.client_id, environ or os.environ
        )
    except MigrationError as exc:  # our messages never carry a secret
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def apply_oauth_client(
    tf: Path, resource: str, api_url: str, client_id: str, environ: Mapping[str, str]
) -> list[str]:
    """Make the live client match the .tf; returns terraform-like output lines."""
    try:
        text = tf.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{tf}: cannot read it ({exc.strerror})") from exc
    wanted = find_oauth_client(text, resource, str(tf))
    credentials = credentials_from_env(environ)
    if credentials is None:
        raise CredentialsError("set TS_API_KEY, or TS_OAUTH_CLIENT_ID + TS_OAUTH_CLIENT_SECRET")
    with TailscaleClient(credentials, api_url=api_url) as client:
        if _matches(client.get_key(client_id), wanted):
            return [NO_CHANGES, "", SUMMARY.format(changed=0)]
        client.update_oauth_client(
            client_id,
            scopes=list(wanted.scopes),
            tags=list(wanted.tags),
            description=wanted.description or "",
        )
    return [
        f"{resource}: Modifying... [id={client_id}]",
        f"{resource}: Modifications complete after 0s [id={client_id}]",
        "",
        SUMMARY.format(changed=1),
    ]


def _matches(key: Key, wanted: OAuthClientResource) -> bool:
    have = (set(key.scopes), set(key.tags), key.description)
    return have == (set(wanted.scopes), set(wanted.tags), wanted.description or "")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingress2tailscale.sandbox.terraform_apply")
    parser.add_argument("--tf", type=Path, required=True, help="the .tf file")
    parser.add_argument("--resource", required=True, help="TYPE.NAME in the file")
    parser.add_argument("--api-url", required=True, help="the tailnet emulator's base URL")
    parser.add_argument("--client-id", required=True, help="the OAuth client's key id")
    return parser


if __name__ == "__main__":
    sys.exit(main())
