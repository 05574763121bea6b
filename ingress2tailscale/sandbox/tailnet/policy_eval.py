"""The emulated tailnet's policy engine: HuJSON parsing, rule checks, and policy `tests`.

It understands what the migration writes (tags, groups, `acls` and `grants` on tag:port), no more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import json5

POSITION_RE = re.compile(r"\s*at: line (\d+) column (\d+)(?: \(char \d+\))?")
USER_SRC_PREFIXES = ("group:", "tag:", "autogroup:")

Policy = Mapping[str, Any]


class PolicySyntaxError(ValueError):
    """The policy text is not valid HuJSON, or not a policy; the message carries its position."""


def parse_policy(text: str) -> dict[str, Any]:
    """Parse HuJSON policy text, raising `PolicySyntaxError` with `line N, column M: …`."""
    try:
        value = json5.loads(text)
    except ValueError as exc:
        raise PolicySyntaxError(_position_message(str(exc))) from None
    if not isinstance(value, dict):
        raise PolicySyntaxError("line 1, column 1: the policy must be a JSON object")
    return value


def _position_message(raw: str) -> str:
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    primary = next((ln for ln in lines if POSITION_RE.search(ln)), lines[0] if lines else raw)
    match = POSITION_RE.search(primary)
    if match is None:
        return f"line 1, column 1: {primary}"
    text = POSITION_RE.sub("", primary).strip()
    return f"line {match.group(1)}, column {match.group(2)}: {text}"


def check_policy(policy: Policy) -> list[str]:
    """Errors that make a policy invalid: rules naming tags that `tagOwners` does not define."""
    owned = set(policy.get("tagOwners") or {})
    errors = []
    for section in ("acls", "grants"):
        for index, rule in enumerate(policy.get(section) or []):
            for tag in _tags_in(rule.get("src", []), rule.get("dst", [])):
                if tag not in owned:
                    errors.append(f'{section}[{index}]: tag "{tag}" is not defined in tagOwners')
    return errors


def _tags_in(*lists: Iterable[str]) -> list[str]:
    return [_host_of(item) for items in lists for item in items if item.startswith("tag:")]


def _host_of(dst: str) -> str:
    """`tag:web:443` → `tag:web`; `tag:web` (a grant dst) stays as it is."""
    host, sep, ports = dst.rpartition(":")
    if sep and host and (ports == "*" or ports[:1].isdigit()):
        return host
    return dst


def run_tests(policy: Policy, tests: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Run policy tests; one `{"user", "errors"}` summary per failing test, as the API reports."""
    failures = []
    for test in tests:
        src = str(test.get("src") or test.get("user") or "")
        errors = _unknown_tags(policy, src, test) + _test_errors(policy, src, test)
        if errors:
            failures.append({"user": src, "errors": errors})
    return failures


def _unknown_tags(policy: Policy, src: str, test: Mapping[str, Any]) -> list[str]:
    owned = set(policy.get("tagOwners") or {})
    named = _tags_in([src], test.get("accept") or test.get("allow") or [], test.get("deny") or [])
    return [f'tag "{tag}" is not defined in tagOwners' for tag in named if tag not in owned]


def _test_errors(policy: Policy, src: str, test: Mapping[str, Any]) -> list[str]:
    proto = str(test.get("proto") or "tcp")
    errors = []
    for address in test.get("accept") or test.get("allow") or []:
        if not is_allowed(policy, src, address, proto):
            errors.append(f'address "{address}": want: Accept, got: Drop')
    for address in test.get("deny") or []:
        if is_allowed(policy, src, address, proto):
            errors.append(f'address "{address}": want: Drop, got: Accept')
    return errors


def is_allowed(policy: Policy, src: str, address: str, proto: str = "tcp") -> bool:
    """Whether `src` may reach `host:port` under the policy's accept rules and grants."""
    host, _, port_text = address.rpartition(":")
    if not port_text.isdigit():
        return False
    port = int(port_text)
    principals = _principals(policy, src)
    hosts = _host_names(policy, host)
    for rule in policy.get("acls") or []:
        accepts = rule.get("action", "accept") == "accept" and _src_matches(rule, principals)
        if accepts and any(_acl_dst_matches(d, hosts, port) for d in rule.get("dst", [])):
            return True
    for grant in policy.get("grants") or []:
        reaches = _src_matches(grant, principals) and any(h in hosts for h in grant.get("dst", []))
        if reaches and any(_ip_matches(spec, proto, port) for spec in grant.get("ip", [])):
            return True
    return False


def _principals(policy: Policy, src: str) -> set[str]:
    """Every name a rule's `src` may use to mean this test source."""
    names = {src, "*"}
    if "@" in src and not src.startswith(USER_SRC_PREFIXES):
        names.add("autogroup:member")
        groups = policy.get("groups") or {}
        names.update(group for group, members in groups.items() if src in members)
    return names


def _host_names(policy: Policy, host: str) -> set[str]:
    """The test host plus the `hosts` aliases that point at the same address."""
    aliases = policy.get("hosts") or {}
    names = {host, "*"}
    names.update(alias for alias, address in aliases.items() if address == host)
    if host in aliases:
        names.add(aliases[host])
    return names


def _src_matches(rule: Mapping[str, Any], principals: set[str]) -> bool:
    return any(s in principals for s in rule.get("src", []))


def _acl_dst_matches(dst: str, hosts: set[str], port: int) -> bool:
    host, _, ports = dst.rpartition(":")
    return host in hosts and _port_in(ports, port)


def _ip_matches(spec: str, proto: str, port: int) -> bool:
    if spec == "*":
        return True
    want_proto, sep, ports = spec.rpartition(":")
    if sep and want_proto and want_proto != proto:
        return False
    return _port_in(ports if sep else spec, port)


def _port_in(ports: str, port: int) -> bool:
    for part in ports.split(","):
        low, _, high = part.strip().partition("-")
        high = high or low
        if part == "*" or (low.isdigit() and high.isdigit() and int(low) <= port <= int(high)):
            return True
    return False


def preview_rules(policy: Policy, preview_type: str, preview_for: str) -> list[dict[str, Any]]:
    """Rules that apply to a user (`type=user`) or to a `host:port` (`type=ipport`)."""
    matches = []
    for rule in policy.get("acls") or []:
        srcs, dsts = list(rule.get("src", [])), list(rule.get("dst", []))
        if preview_type == "user":
            hit = _src_matches(rule, _principals(policy, preview_for))
        else:
            host, _, port = preview_for.rpartition(":")
            hit = port.isdigit() and any(
                _acl_dst_matches(d, _host_names(policy, host), int(port)) for d in dsts
            )
        if hit:
            matches.append({"users": srcs, "ports": dsts, "lineNumber": 0})
    return matches
