"""A discovery proposal as commented config YAML that `load_config` accepts, written with
ruamel.yaml (names come from the repo: they are YAML scalars, never spliced into text)."""

from __future__ import annotations

import io
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from ingress2tailscale.plan.discovery import (
    LINKS_SLICE,
    FluxTarget,
    Proposal,
    ProposedSlice,
)

PLACEHOLDER_TAILNET = "example.ts.net"
OPERATOR_TAG = "tag:k8s-operator"
ACL_SOURCE = "autogroup:admin"
HEADER = (
    "Proposed by `python -m flows.discover --repo {repo}`. Review every TODO, then save it as\n"
    "config/migration.yaml. Secrets never go here: the Tailscale credentials come from\n"
    "TS_API_KEY, or TS_OAUTH_CLIENT_ID + TS_OAUTH_CLIENT_SECRET."
)
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()


def render_proposal(proposal: Proposal, repo: str, tailnet: str | None) -> str:
    """The proposal as a commented config YAML that `load_config` accepts."""
    root = CommentedMap()
    root.yaml_set_start_comment(HEADER.format(repo=comment_text(repo)))
    root["tailnet"] = scalar(tailnet or PLACEHOLDER_TAILNET)
    if not tailnet:
        eol_comment(root, "tailnet", "TODO your tailnet's MagicDNS suffix")
    root["gitops"] = _gitops(repo, proposal.flux)
    root["tailscale"] = _tailscale(proposal)
    root["slices"] = _slices(proposal)
    root.yaml_set_comment_before_after_key("slices", before="\nin migration order")
    _append_end_comment(
        root,
        [f"Not proposed: {x.document.ref} ({x.reason})" for x in proposal.left_out]
        + [
            f"{'Note' if n.level == 'info' else 'Not read'}: {n.subject}: {n.message}"
            for n in proposal.notes
        ],
    )
    out = io.StringIO()
    writer = YAML()
    writer.width = 4096  # a long name stays on its line
    writer.indent(mapping=2, sequence=4, offset=2)
    writer.dump(root, out)
    return out.getvalue()


def scalar(value: str) -> str:
    """`value` quoted when PyYAML (YAML 1.1, what load_config reads) would not see a string."""
    # types-PyYAML leaves Resolver.resolve unannotated
    if _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG:  # type: ignore[no-untyped-call]
        return value
    return DoubleQuotedScalarString(value)


def comment_text(text: str) -> str:
    """One comment line: a name from the repo must not end the comment and start YAML."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def eol_comment(node: CommentedMap | CommentedSeq, key: Any, text: str) -> None:
    """A one-line comment after `key`'s value, two spaces away like every other one."""
    node.yaml_add_eol_comment(f"# {comment_text(text)}", key)
    slot = node.ca.items[key]
    token = slot[2] if isinstance(node, CommentedMap) else slot[0]
    # ruamel pads only the first comment of a mapping; the others would sit one space away
    token.value = " " + token.value.lstrip(" ")


def _flow(items: dict[str, Any] | list[Any]) -> CommentedMap | CommentedSeq:
    node = CommentedMap(items) if isinstance(items, dict) else CommentedSeq(items)
    node.fa.set_flow_style()
    return node


def _gitops(repo: str, flux: FluxTarget | None) -> CommentedMap:
    gitops = CommentedMap()
    gitops["path"] = scalar(repo)
    eol_comment(gitops, "path", "a relative path here is relative to this file's folder")
    gitops["branch"] = scalar(flux.branch if flux and flux.branch else "main")
    if not (flux and flux.branch):
        eol_comment(gitops, "branch", "TODO check: the branch Flux follows")
    gitops["remote"] = "origin"
    if flux is not None:
        kustomizations = _flow([scalar(k) for k in flux.kustomizations])
        gitops["flux"] = CommentedMap(
            namespace=scalar(flux.namespace),
            source=scalar(flux.source),
            kustomizations=kustomizations,
        )
        eol_comment(gitops, "flux", "the Kustomizations that apply the slices' folders")
    return gitops


def _tailscale(proposal: Proposal) -> CommentedMap:
    tailscale = CommentedMap()
    tailscale["https"] = any(s.candidate.expose == "https" for s in proposal.slices)
    policy = CommentedMap()
    policy["source"] = "api"
    tag_ports = proposal.tag_ports()
    policy["tag_owners"] = CommentedMap({t: _flow([OPERATOR_TAG]) for t in tag_ports})
    acls = CommentedSeq()
    for i, (tag, ports) in enumerate(tag_ports.items()):
        dst = [scalar(f"{tag}:{p}") for p in ports]
        acls.append(_flow({"action": "accept", "src": _flow([ACL_SOURCE]), "dst": _flow(dst)}))
        eol_comment(acls, i, "TODO decide who may connect (src)")
    policy["acls"] = acls
    tailscale["policy"] = policy
    tailscale.yaml_set_comment_before_after_key(
        "policy",
        before="TODO if Terraform manages the operator's OAuth client, add\n"
        "oauth_client: {terraform: PATH.tf, resource: tailscale_oauth_client.NAME}",
        indent=2,
    )
    return tailscale


def _slices(proposal: Proposal) -> CommentedMap:
    slices = CommentedMap()
    for sl in proposal.slices:
        key = scalar(sl.name)
        slices[key] = _tcp_slice(sl) if sl.candidate.expose == "tcp" else _https_slice(sl)
        origin = _origin(sl, proposal.applied_by.get(sl.candidate.source.path, ()))
        slices.yaml_set_comment_before_after_key(key, before=origin, indent=2)
    if proposal.homepage is not None:
        hp = proposal.homepage
        consumer = {
            "namespace": hp.namespace,
            "configmap": hp.configmap,
            "deployment": hp.deployment,
        }
        links = CommentedMap({"consumers": CommentedMap()})
        links["consumers"]["homepage"] = _flow({k: scalar(v) for k, v in consumer.items()})
        slices[LINKS_SLICE] = links
        slices.yaml_set_comment_before_after_key(
            LINKS_SLICE, before="the homepage's links and allowed hosts follow the slices", indent=2
        )
    return slices


def _common(sl: ProposedSlice) -> CommentedMap:
    doc = sl.candidate.source
    body = CommentedMap()
    body["expose"] = sl.candidate.expose
    source = {"kind": doc.kind, "namespace": scalar(doc.namespace), "name": scalar(doc.name)}
    if sl.candidate.values_entry is not None:  # which entry of the release's values
        field, key = sl.candidate.values_entry
        source[field] = scalar(key)
    body["from"] = _flow(source)
    if sl.explicit_hostname:
        body["hostname"] = scalar(sl.name)
    body["tags"] = _flow([scalar(t) for t in sl.tags])
    return body


def _tcp_slice(sl: ProposedSlice) -> CommentedMap:
    body = _common(sl)
    if sl.candidate.values_entry is None:  # a release's entry is edited, never commented out
        body["cleanup"] = "comment-out"
        eol_comment(body, "cleanup", "keep the old Service in git, commented, for rollback")
    return body


def _https_slice(sl: ProposedSlice) -> CommentedMap:
    body = _common(sl)
    c = sl.candidate
    if not c.label_derived:
        eol_comment(body, "hostname", f"TODO check: no DNS label in the old host {c.old_host}")
    if not c.middlewares:
        return body  # nothing in front of it: phase 2 changes no access rule
    body["accept_auth_change"] = False
    dropped = ", ".join(c.middlewares)
    what = f"{', '.join(c.gates)} ({dropped})" if c.allow_list_only else f"forward-auth {dropped}"
    eol_comment(body, "accept_auth_change", f"TODO decide: phase 2 drops {what}")
    return body


def _origin(sl: ProposedSlice, applied_by: tuple[str, ...] = ()) -> str:
    c = sl.candidate
    where = f"{c.source.ref} ({c.source.path}:{c.source.line})"
    if c.expose == "tcp":
        ports = ", ".join(str(p) for p in c.ports)
        lines = [f"{where}: MetalLB LoadBalancer, port {ports}"]
    else:
        behind = ", ".join(c.gates) if c.gates else "forward-auth"
        lines = [f"{where}: https://{c.old_host or '?'} behind {behind}"]
        lines += list(c.remarks)
        if c.assumed_internal:
            lines.append(
                "TODO check: the repo has no forward-auth or IP allow-list middleware; "
                "remove this slice if the app is public"
            )
        lines += [
            f"TODO check: middleware {m} is not in the repo, assumed forward-auth"
            for m in c.unverified
        ]
    if applied_by:
        lines.append(f"applied by Flux Kustomization {', '.join(applied_by)}")
    return "\n".join(comment_text(line) for line in lines)


def _append_end_comment(root: CommentedMap, lines: list[str]) -> None:
    """Comment lines after the whole document, attached to its last scalar line.

    ruamel.yaml has no public API for a comment after a nested block, so the lines extend the
    end-of-line comment token of the last key (which may already hold a TODO).
    """
    if not lines:
        return
    node, key = root, list(root)[-1]
    while isinstance(node[key], CommentedMap) and node[key] and not node[key].fa.flow_style():
        node, key = node[key], list(node[key])[-1]
    text = "\n\n" + "".join(f"# {comment_text(line)}\n" for line in lines)
    slot = node.ca.items.setdefault(key, [None, None, None, None])
    if slot[2] is None:
        slot[2] = CommentToken(text, CommentMark(0))
    else:
        slot[2].value = slot[2].value.rstrip("\n") + text
