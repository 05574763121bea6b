"""The Terraform file of the operator's OAuth client: find the `tailscale_oauth_client` resource
with python-hcl2 and change its `scopes` by splicing the text of that one list; `terraform fmt`."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import hcl2.api
from hcl2.rules.containers import TupleRule
from lark.exceptions import LarkError

from ingress2tailscale.errors import ConfigError
from ingress2tailscale.limits import TERRAFORM_FMT

# A current scope, and the legacy scope that already grants it.
LEGACY_SCOPES = {"devices:core": "devices"}
# A quoted string without interpolation: the only kind of list element we edit around.
PLAIN_STRING = re.compile(r'^"[^"\\$%]*"$')
FMT_BINARIES = ("terraform", "tofu")
FMT_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class OAuthClientResource:
    """What the file says about one `tailscale_oauth_client`, and where its `scopes` list is."""

    name: str
    description: str | None
    scopes: tuple[str, ...]
    tags: tuple[str, ...]
    scopes_span: tuple[int, int]  # character offsets of the `[...]` value in the text
    scope_spans: tuple[tuple[int, int], ...]  # character offsets of each quoted scope
    line: int  # where the resource block starts, from 1


@dataclass(frozen=True)
class ScopesEdit:
    """A Terraform text before and after adding scopes; `notes` explain what was left alone."""

    before: str
    after: str
    added: tuple[str, ...]
    notes: tuple[str, ...]


def find_oauth_client(text: str, resource: str, source: str) -> OAuthClientResource:
    """The resource `tailscale_oauth_client.NAME` in this file; ConfigError when absent or odd."""
    kind, _, name = resource.partition(".")
    if not kind or not name:
        raise ConfigError(f"{resource!r} is not a resource address; write it as TYPE.NAME")
    blocks = _query(text, source).blocks("resource", kind, name)
    if not blocks:
        raise ConfigError(
            f'{source}: no `resource "{kind}" "{name}"` block. Check '
            "tailscale.oauth_client.resource in the config, or point `terraform:` at the right file"
        )
    block = blocks[0]
    line = int(block.raw._meta.line)
    value = _scopes_list(block, f"{source} line {line}: {resource}")
    spans = tuple(_span(element) for element in value.elements)
    scopes = tuple(_string(text[s:e], f"{source} line {line}: {resource}.scopes") for s, e in spans)
    return OAuthClientResource(
        name=name,
        description=_optional_string(block.attribute("description")),
        scopes=scopes,
        tags=_strings(block.attribute("tags")),
        scopes_span=_span(block.attribute("scopes").value_node.raw),
        scope_spans=spans,
        line=line,
    )


def edit_scopes(text: str, resource: str, wanted: Sequence[str], source: str) -> ScopesEdit:
    """Make the resource's `scopes` contain `wanted`, changing nothing else in the text."""
    client = find_oauth_client(text, resource, source)
    missing: list[str] = []
    notes: list[str] = []
    for scope in dict.fromkeys(wanted):
        legacy = LEGACY_SCOPES.get(scope)
        if scope in client.scopes:
            continue
        if legacy in client.scopes:
            notes.append(
                f"{source} line {client.line}: {resource} has the legacy scope `{legacy}`, which "
                f"grants `{scope}`; left as it is (rename it to `{scope}` when convenient)"
            )
        else:
            missing.append(scope)
    after = _append_scopes(text, client, missing) if missing else text
    return ScopesEdit(text, after, tuple(missing), tuple(notes))


def check_terraform_fmt(text: str) -> str | None:
    """What `terraform fmt -check` objects to in `text`; None if it passes or is not installed."""
    binary = next((name for name in FMT_BINARIES if shutil.which(name)), None)
    if binary is None:
        return None
    try:
        done = subprocess.run(
            [shutil.which(binary) or binary, "fmt", "-check", "-no-color", "-"],
            input=text,
            capture_output=True,
            text=True,
            timeout=FMT_TIMEOUT_SECONDS,
            check=False,
            preexec_fn=TERRAFORM_FMT.preexec(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{binary} fmt could not run: {exc}"
    if done.returncode == 0:
        return None
    # keep the error titles and positions only: the quoted source lines are the user's file
    found = [
        ln.strip() for ln in done.stderr.splitlines() if re.match(r"\s*(Error:|on <stdin>)", ln)
    ]
    if found:
        return f"{binary} fmt: " + "; ".join(found)
    return f"{binary} fmt -check: the file is not formatted canonically; run `terraform fmt` on it"


def _query(text: str, source: str) -> Any:
    try:
        return hcl2.api.query(text)  # type: ignore[no-untyped-call]  # unannotated in hcl2 8.1
    except LarkError as exc:
        line, column = getattr(exc, "line", "?"), getattr(exc, "column", "?")
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{source}: line {line}, column {column}: not valid HCL ({first}). "
            "Fix the syntax there (`terraform fmt` shows it too) and run again"
        ) from exc


def _scopes_list(block: Any, where: str) -> TupleRule:
    attribute = block.attribute("scopes")
    if attribute is None:
        raise ConfigError(f"{where} has no `scopes`; add `scopes = []` to it")
    value = getattr(attribute.value_node.raw, "expression", None)
    if not isinstance(value, TupleRule):
        raise ConfigError(f"{where}: `scopes` is not a list of quoted strings; edit it by hand")
    return value


def _span(node: Any) -> tuple[int, int]:
    return int(node._meta.start_pos), int(node._meta.end_pos)


def _string(raw: str, where: str) -> str:
    if not PLAIN_STRING.match(raw):
        raise ConfigError(f"{where}: {raw} is not a plain quoted scope; edit the list by hand")
    return raw[1:-1]


def _optional_string(attribute: Any) -> str | None:
    """A plain quoted string's value; None for anything else (heredoc, interpolation), which
    cannot be compared with what the API reports."""
    raw = attribute.value if attribute is not None else None
    if isinstance(raw, str) and PLAIN_STRING.match(raw) and "${" not in raw and "\\" not in raw:
        return raw[1:-1]
    return None


def _strings(attribute: Any) -> tuple[str, ...]:
    raw = attribute.value if attribute is not None else None
    if not isinstance(raw, list):
        return ()
    return tuple(r[1:-1] for r in raw if isinstance(r, str) and PLAIN_STRING.match(r))


def _append_scopes(text: str, client: OAuthClientResource, scopes: list[str]) -> str:
    """The text with `scopes` added at the end of the list, in the list's own layout."""
    start, end = client.scopes_span
    return text[:start] + _append_items(text[start:end], client, scopes) + text[end:]


def _append_items(value: str, client: OAuthClientResource, scopes: list[str]) -> str:
    items = [(s - client.scopes_span[0], e - client.scopes_span[0]) for s, e in client.scope_spans]
    quoted = [f'"{scope}"' for scope in scopes]
    closing = len(value) - 1
    if "\n" not in value:  # one line: continue it with the separator it already uses
        if not items:
            return "[" + ", ".join(quoted) + "]"
        sep = value[items[-2][1] : items[-1][0]] if len(items) > 1 else ", "
        last = items[-1][1]
        return value[:last] + "".join(sep + q for q in quoted) + value[last:]
    if not items:  # an empty list over several lines: one scope per line, trailing commas
        inner = _indent_of(value, closing) + "  "
        return "[" + "".join(f"\n{inner}{q}," for q in quoted) + value[1:]
    indent, last = _indent_of(value, items[-1][0]), items[-1][1]
    at = value.rfind("\n", 0, closing) + 1
    if value[at:closing].strip():
        # the closing bracket shares the last scope's line: open a line per scope before it
        return value[:last] + "".join(",\n" + indent + q for q in quoted) + value[last:]
    trailing = value[items[-1][1] : closing].lstrip().startswith(",")
    lines = "".join(f"{indent}{q},\n" for q in quoted)
    if not trailing:
        value, at = value[:last] + "," + value[last:], at + 1
        lines = lines[:-2] + "\n"
    return value[:at] + lines + value[at:]


def _indent_of(text: str, pos: int) -> str:
    line = text[text.rfind("\n", 0, pos) + 1 : pos]
    return line[: len(line) - len(line.lstrip(" \t"))]
