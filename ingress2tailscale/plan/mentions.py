"""What else still points at a slice's old host: app settings (a Grafana `root_url`), OIDC
redirect URIs, probes, links. Listed as notices for a human, never edited: after phase 2 the
old host no longer answers, and only the app's owner knows which of them must follow."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from ingress2tailscale.kinds import KUSTOMIZE_API_GROUP
from ingress2tailscale.model import Notice, ResourceRef
from ingress2tailscale.plan.exposure import Exposure
from ingress2tailscale.repo.inventory import Inventory

MAX_LINES = 3  # per document: enough to find them


class MentionIndex:
    """Host or name -> the files whose text names it, for the old hosts (and the names: TLS
    Secrets) known when the plan starts; built in one pass over the repo's texts and kept
    current as the slices are applied, so a slice's question reads the few files that name its
    host, not every file. A host is found wherever its text is; a name where it stands whole
    (no `-`, `.` or word character on either side), as the TLS questions look for it."""

    def __init__(
        self, inventory: Inventory, hosts: Iterable[str], names: Iterable[str] = ()
    ) -> None:
        self._hosts = {h for h in hosts if "." in h}  # a host without a dot is looked for
        self._names = {n for n in names if _NAME.fullmatch(n)}
        # where a host may start, from each dot of a text: (offset of its first dot, length)
        self._shapes = sorted({(h.index("."), len(h)) for h in self._hosts})
        self._files: dict[str, set[str]] = {}  # host or name -> paths
        self._named: dict[str, set[str]] = {}  # path -> hosts and names
        for path in inventory.files():
            self._add(path, inventory.text_of(path))

    def files(self, needle: str) -> set[str] | None:
        """The files naming the host or name `needle` (None: not one of this index, every file
        may)."""
        if needle in self._hosts or needle in self._names:
            return self._files.get(needle, set())
        return None

    def update(self, inventory: Inventory, changed: Iterable[str]) -> None:
        """`inventory` is the one before with the files `changed` (repo paths) replaced."""
        for path in changed:
            for needle in self._named.pop(path, ()):
                self._files[needle].discard(path)
            text = inventory.tree.read(path)
            if text is not None:
                self._add(path, text)

    def _add(self, path: str, text: str) -> None:
        found = set()
        dot = text.find(".")
        while dot >= 0:
            for offset, length in self._shapes:
                start = dot - offset
                if start >= 0 and text[start : start + length] in self._hosts:
                    found.add(text[start : start + length])
            dot = text.find(".", dot + 1)
        if self._names:
            found.update(self._names.intersection(_NAME.findall(text)))
        if found:
            self._named[path] = found
            for needle in found:
                self._files.setdefault(needle, set()).add(path)


_NAME = re.compile(r"[-\w.]+")  # a whole name: what stands between other characters


def old_host_mentions(
    inventory: Inventory,
    exp: Exposure,
    skip: Collection[ResourceRef] = (),
    index: MentionIndex | None = None,
) -> list[Notice]:
    """One info notice per applied document naming the old host outside comments (not the old
    exposure, kustomize files, nor `skip`: what the links slice edits); `index`: the plan's
    MentionIndex of that inventory, when it keeps one."""
    host = exp.old_host
    if not host or exp.spec.expose != "https":
        return []
    notices = []
    for doc in inventory.mentioning(host, index.files(host) if index is not None else None):
        if doc.ref == exp.source.ref or doc.ref in skip or not inventory.is_applied(doc.path):
            continue
        if doc.api_version.startswith(KUSTOMIZE_API_GROUP):
            continue
        lines = doc.text.splitlines()
        where = [
            f"line {doc.line + n} ({_key(lines, n)})"
            for n, text in enumerate(lines)
            if host in text.split("#", 1)[0] or (host in text and not _comment(text))
        ]
        if not where:
            continue
        more = f" and {len(where) - MAX_LINES} more" if len(where) > MAX_LINES else ""
        notices.append(
            Notice(
                "info",
                str(doc.ref),
                f"{doc.path} names {host} at {', '.join(where[:MAX_LINES])}{more}; phase 2 "
                f"takes that host away: change what must follow to https://{exp.fqdn} (a link, "
                "an OIDC redirect URI, a root URL, a probe); the migration does not edit it",
            )
        )
    return notices


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _key(lines: list[str], n: int) -> str:
    """The setting a line holds (never its value: it may be a secret): the key, or for an env
    entry the variable's name."""
    line = lines[n].strip().lstrip("-").strip()
    named = _ENV_NAME.search(line)
    if named:
        return f"`{named.group(1)}`"
    key = line.split(":", 1)[0].strip()
    if key == "value" and n > 0:
        above = _ENV_NAME.search(lines[n - 1])
        if above:
            return f"`{above.group(1)}`"
    return f"`{key[:40]}`" if key and " " not in key and "/" not in key else "a value"


_ENV_NAME = re.compile(r"\bname:\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:,|$)")
