"""Inventory + config -> Plan, per slice and phase (pure: reads the tree, writes nothing)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ingress2tailscale.checks.manifests import check_files
from ingress2tailscale.config import LinksSlice, MigrationConfig
from ingress2tailscale.errors import PlanError
from ingress2tailscale.model import (
    PREREQ_STEPS,
    FileChange,
    Notice,
    Plan,
    RemoteChange,
    ResourceRef,
    Step,
)
from ingress2tailscale.plan.consumers import plan_homepage
from ingress2tailscale.plan.exposure import (
    Exposure,
    derive_exposure,
    new_object_ref,
    remark_notices,
    unapplied_notice,
)
from ingress2tailscale.plan.helm_phases import release_phase1, release_phase2
from ingress2tailscale.plan.hostnames import HostnameIndex
from ingress2tailscale.plan.mentions import MentionIndex, old_host_mentions
from ingress2tailscale.plan.validation import describe_validation
from ingress2tailscale.plan.workspace import FilesNaming, Workspace
from ingress2tailscale.repo.inventory import Inventory, RepoTree, build_inventory


@dataclass(frozen=True)
class PlannedSlice:
    """A slice's plan and the repo files as they would be once it is applied."""

    plan: Plan
    inventory: Inventory  # the repo as it would be once the slice is applied

    @property
    def overrides(self) -> dict[str, str | None]:
        return self.inventory.tree.overrides


def check_slice_name(config: MigrationConfig, name: str) -> None:
    if name not in config.slices:
        known = ", ".join(config.slices) or "(none)"
        raise PlanError(
            f"{config.source_path}: unknown slice {name!r}; the config defines: {known} (or 'all')"
        )


def plan_slice(
    config: MigrationConfig,
    tree: RepoTree,
    name: str,
    phase: str = "all",
    dry_run: bool = True,
    prereq: Sequence[Step] = (),
    inventory: Inventory | None = None,
    old_hosts: Mapping[str, str] | None = None,
    hostnames: HostnameIndex | None = None,
    mentions: MentionIndex | None = None,
) -> PlannedSlice:
    """Plan one slice on `tree` (or on `inventory`, when the caller has one of that tree);
    `prereq` are the tailnet steps when they were checked; `hostnames` (every slice's
    hostname) and `mentions` (the files naming each old host) are of that inventory, when the
    caller keeps them (`plan_slices`)."""
    check_slice_name(config, name)
    steps: list[Step] = []
    notices: list[Notice] = []
    if inventory is None:  # else the caller reports what the scan could not read, once
        inventory = build_inventory(tree)
        notices += inventory.reading_notices()
    if phase in ("prereq", "all"):
        steps += prereq or unchecked_prereq(config)
        notices += _failing_policy_tests(prereq)
    try:
        facts = _facts(config, inventory, name)
        if phase != "prereq":
            inventory, more_steps, more_notices = _plan_repo_steps(
                config, inventory, name, phase, old_hosts or {}, hostnames, mentions
            )
            steps += more_steps
            notices += more_notices
    except PlanError as exc:  # this slice cannot be planned: said, and the others still are
        facts = {}
        steps += _unplanned_steps(config, name, phase)
        notices.append(Notice("error", f"slices.{name}", str(exc)))
    plan = Plan(name, phase, dry_run, tuple(steps), tuple(_unique(notices)), facts)
    return PlannedSlice(plan, inventory)


def _unplanned_steps(config: MigrationConfig, name: str, phase: str) -> list[Step]:
    why = "not planned: the slice has an error (see the notices)"
    if phase == "prereq":
        return []
    if isinstance(config.slices[name], LinksSlice):
        return [] if phase == "2" else [Step("links", "unknown", why)]
    wanted = {"1": ["phase-1"], "2": ["phase-2"], "all": ["phase-1", "phase-2"]}[phase]
    return [Step(step, "unknown", why) for step in wanted]


def _facts(config: MigrationConfig, inventory: Inventory, name: str) -> dict[str, str]:
    """What the slice's commits say: the old object, the tailnet name, and the host phase 2
    takes away (recorded for the links of later runs)."""
    spec = config.service_slices().get(name)
    if spec is None:
        return {}
    facts = {"source": str(ResourceRef(spec.source.kind, spec.source.namespace, spec.source.name))}
    facts["new"] = str(new_object_ref(config, name))
    if inventory.find(spec.source.kind, spec.source.namespace, spec.source.name) is not None:
        exp = derive_exposure(config, inventory, name)
        facts["fqdn"] = exp.fqdn
        if exp.old_host:
            facts["old_host"] = exp.old_host
    return facts


def plan_slices(
    config: MigrationConfig,
    tree: RepoTree,
    names: Sequence[str],
    phase: str = "all",
    dry_run: bool = True,
    prereq: Sequence[Step] = (),
    old_hosts: Mapping[str, str] | None = None,
) -> list[Plan]:
    """Plan slices in order, each as if the ones before it had been applied."""
    plans = []
    inventory = build_inventory(tree)
    reading = inventory.reading_notices()
    old_hosts = {**(old_hosts or {}), **known_old_hosts(config, inventory)}
    hostnames = HostnameIndex(config, inventory)
    mentions = MentionIndex(inventory, old_hosts.values(), _tls_secrets(config, inventory))
    for index, name in enumerate(names):
        pre = prereq if index == 0 else [_after_first(s, names[0]) for s in prereq]
        planned = plan_slice(
            config,
            inventory.tree,
            name,
            phase,
            dry_run,
            pre,
            inventory,
            old_hosts,
            hostnames,
            mentions,
        )
        plan = planned.plan
        if index == 0 and reading:  # said once, with the first slice
            plan = replace(plan, notices=tuple(_unique([*reading, *plan.notices])))
        plans.append(plan)
        inventory = planned.inventory
        changed = [c.path for c in planned.plan.file_changes]
        hostnames.update(inventory, changed)
        mentions.update(inventory, changed)
    return plans


def _tls_secrets(config: MigrationConfig, inventory: Inventory) -> set[str]:
    """The TLS Secrets of the slices whose old exposure is in the repo, as derived on it."""
    found = set()
    for name, sl in config.service_slices().items():
        if inventory.find(sl.source.kind, sl.source.namespace, sl.source.name) is None:
            continue
        with contextlib.suppress(PlanError):  # said when the slice is planned
            secret = derive_exposure(config, inventory, name).tls_secret
            if secret:
                found.add(secret)
    return found


def _after_first(step: Step, first: str) -> Step:
    """A tailnet step as the slices after the first see it: the first one applies it."""
    if step.action == "unknown":
        return Step(step.name, "unknown", f"not checked (see slice {first}, which runs first)")
    if step.action == "change" or step.changes:
        return Step(step.name, "none", f"applied by slice {first}, which runs first")
    return step


def unchecked_prereq(config: MigrationConfig) -> list[Step]:
    why = "not checked: the plan was made without asking the tailnet"
    return [Step(name, "unknown", why) for name in PREREQ_STEPS]


def _plan_repo_steps(
    config: MigrationConfig,
    inventory: Inventory,
    name: str,
    phase: str,
    old_hosts: Mapping[str, str],
    hostnames: HostnameIndex | None,
    mentions: MentionIndex | None = None,
) -> tuple[Inventory, list[Step], list[Notice]]:
    spec = config.slices[name]
    if isinstance(spec, LinksSlice):
        if phase == "2":
            return inventory, [], []
        step, link_notices = _links_step(config, inventory, spec, old_hosts)
        return inventory.with_changes(_overrides_of(step)), [step], link_notices
    steps: list[Step] = []
    notices: list[Notice] = []
    done = _already_migrated(config, inventory, name, phase)
    if done is not None:
        return inventory, done, []
    exp = derive_exposure(config, inventory, name)
    notices += unapplied_notice(inventory, exp) + remark_notices(exp)
    notices += _duplicate_hostnames(config, hostnames or HostnameIndex(config, inventory), exp)
    notices += _unowned_tags(config, exp) + _missing_backends(inventory, exp)
    notices += old_host_mentions(inventory, exp, _links_edit(config), mentions)
    notices += _repeated_backends(inventory, exp)
    if phase in ("2", "all") and exp.helm is None:  # a release is edited, never removed
        notices += _patches_left(inventory, exp)
    if phase in ("1", "all"):
        step, found = _file_step("phase-1", inventory, exp, release_phase1)
        steps.append(step)
        notices += found
        inventory = inventory.with_changes(_overrides_of(step))
        exp = derive_exposure(config, inventory, name)
    if phase == "all":
        steps.append(validate_step(config, exp))
    if phase in ("2", "all"):
        naming = None if mentions is None else _files_naming(mentions, steps)
        step, found = _file_step("phase-2", inventory, exp, release_phase2, naming)
        steps.append(step)
        notices += found
        inventory = inventory.with_changes(_overrides_of(step))
    return inventory, steps, notices


def _links_edit(config: MigrationConfig) -> list[ResourceRef]:
    """What the links slices edit: their homepage's ConfigMap and Deployment."""
    found = []
    for sl in config.links_slices().values():
        home = sl.consumers.homepage
        if home is not None:
            found += [
                ResourceRef("ConfigMap", home.namespace, home.configmap),
                ResourceRef("Deployment", home.namespace, home.deployment),
            ]
    return found


def _already_migrated(
    config: MigrationConfig, inventory: Inventory, name: str, phase: str
) -> list[Step] | None:
    """Steps saying `none` when the old object is gone and the tailnet one is in the repo."""
    spec = config.service_slices()[name]
    old = inventory.find(spec.source.kind, spec.source.namespace, spec.source.name)
    new = new_object_ref(config, name)
    if old is not None or inventory.get(new) is None:
        return None
    steps = []
    if phase in ("1", "all"):
        steps.append(Step("phase-1", "none", f"{new} is already in the repo"))
    if phase in ("2", "all"):
        steps.append(
            Step("phase-2", "none", f"the old exposure of slice {name} is already retired")
        )
    return steps


def _files_naming(mentions: MentionIndex, before: Sequence[Step]) -> FilesNaming:
    """What `mentions` (of the inventory the slice started on) says may name a needle, and the
    files the slice's steps `before` changed."""
    since = {c.path for step in before for c in step.changes if isinstance(c, FileChange)}

    def files_naming(needle: str) -> set[str] | None:
        found = mentions.files(needle)
        return None if found is None else found | since

    return files_naming


def _file_step(
    name: str,
    inventory: Inventory,
    exp: Exposure,
    build: Callable[[Workspace, Exposure], list[Notice]],
    files_naming: FilesNaming | None = None,
) -> tuple[Step, list[Notice]]:
    ws = Workspace(inventory, files_naming)
    notices = build(ws, exp)
    changes = ws.changes()
    notices += _check(inventory, ws)
    notices += _linked_edits(inventory.tree.root, [c.path for c in changes])
    if not changes:
        return Step(name, "none", _done_reason(name, exp)), notices
    return Step(name, "change", _change_reason(name, exp), tuple(changes)), notices


def _check(inventory: Inventory, ws: Workspace) -> list[Notice]:
    """The static checks of a step's files, over the changes planned before it."""
    tree = inventory.tree
    return check_files(tree.root, ws.overrides(), tree.overrides, tree.override_paths())


def _linked_edits(root: Path, paths: Sequence[str]) -> list[Notice]:
    """A file the plan changes must not be a symlink: the edit would land in its target."""
    notices = []
    for path in paths:
        full = root / path
        if full.is_symlink():
            target = os.path.realpath(full)
            message = (
                f"a symbolic link (to {target}): the plan would change the file through the "
                "link; replace the link by the file itself, then plan again"
            )
            notices.append(Notice("error", path, message))
    return notices


def _overrides_of(step: Step) -> dict[str, str | None]:
    return {c.path: c.after for c in step.changes if isinstance(c, FileChange)}


def _change_reason(name: str, exp: Exposure) -> str:
    if name == "phase-1":
        return f"add {exp.new_ref} so {exp.source.ref} is reachable as {exp.fqdn}"
    if exp.helm is not None:
        return f"retire the old exposure {exp.helm.where} of {exp.source.ref}"
    return f"retire the old exposure {exp.source.ref} ({exp.spec.cleanup})"


def _done_reason(name: str, exp: Exposure) -> str:
    if name == "phase-1":
        return f"{exp.new_ref} is already in the repo"
    return f"the old exposure {exp.source.ref} is already retired"


def validate_step(config: MigrationConfig, exp: Exposure) -> Step:
    """What the validate step checks with this config (the catalogue of plan/validation.py)."""
    return Step("validate", "none", describe_validation(config, exp))


def _links_step(
    config: MigrationConfig, inventory: Inventory, spec: LinksSlice, old_hosts: Mapping[str, str]
) -> tuple[Step, list[Notice]]:
    hosts, own, notices = _link_targets(config, inventory, spec, old_hosts)
    ws = Workspace(inventory)
    if spec.consumers.homepage is not None:
        notices += plan_homepage(ws, spec.consumers.homepage, hosts, own)
    changes = ws.changes()
    notices += _check(inventory, ws)
    notices += _linked_edits(inventory.tree.root, [c.path for c in changes])
    if not changes:
        return Step("links", "none", "consumers already point at the tailnet names"), notices
    reason = "point consumers at " + ", ".join(sorted(set(hosts.values())))
    return Step("links", "change", reason, tuple(changes)), notices


def _link_targets(
    config: MigrationConfig,
    inventory: Inventory,
    spec: LinksSlice,
    old_hosts: Mapping[str, str],
) -> tuple[dict[str, str], list[str], list[Notice]]:
    """Old host -> tailnet name for every https slice, and the homepage's own tailnet names.

    The old host is read from the Traefik Ingress while it exists; once phase 2 retired it,
    from what the phase-2 commit recorded (`old_hosts`), else from the slice's `old_host`.
    """
    hosts: dict[str, str] = {}
    own: list[str] = []
    notices: list[Notice] = []
    home_ns = spec.consumers.homepage.namespace if spec.consumers.homepage else None
    for name, sl in config.service_slices().items():
        if sl.expose != "https":
            continue
        old, fqdn = _old_and_new_host(config, inventory, name, old_hosts)
        if fqdn and not old:
            notices.append(_unknown_old_host(name))
        if old and fqdn:
            hosts[old.lower()] = fqdn
            if sl.source.namespace == home_ns:
                own.append(fqdn)
    return hosts, own, notices


def _old_and_new_host(
    config: MigrationConfig, inventory: Inventory, name: str, old_hosts: Mapping[str, str]
) -> tuple[str | None, str | None]:
    sl = config.service_slices()[name]
    if inventory.find(sl.source.kind, sl.source.namespace, sl.source.name) is not None:
        exp = derive_exposure(config, inventory, name)  # a release's old entry may be gone
        return exp.old_host or old_hosts.get(name) or sl.old_host, exp.fqdn
    new = inventory.get(new_object_ref(config, name))
    if new is None:
        return None, None
    tls = (new.body.get("spec") or {}).get("tls") or [{}]
    hostname = str((tls[0].get("hosts") or [""])[0]).split(".")[0]
    return old_hosts.get(name) or sl.old_host, f"{hostname}.{config.tailnet}"


def _unknown_old_host(name: str) -> Notice:
    return Notice(
        "warning",
        f"slice {name}",
        "its Traefik Ingress is gone and no phase-2 commit records its old host, so links to it "
        f"are not changed; set slices.{name}.old_host",
    )


def known_old_hosts(config: MigrationConfig, inventory: Inventory) -> dict[str, str]:
    """Slice -> the host its Traefik Ingress serves, for the slices whose Ingress is in the repo."""
    found = {}
    for name, sl in config.service_slices().items():
        if sl.expose == "https" and inventory.find(
            sl.source.kind, sl.source.namespace, sl.source.name
        ):
            old = derive_exposure(config, inventory, name).old_host
            if old:
                found[name] = old
    return found


def _failing_policy_tests(prereq: Sequence[Step]) -> list[Notice]:
    """The new policy's own tests fail: the acl step would be refused, so the plan is too."""
    return [
        Notice("error", "tailnet policy", f"with this change its tests fail: {failures}")
        for step in prereq
        for change in step.changes
        if isinstance(change, RemoteChange) and (failures := change.detail.get("test_failures"))
    ]


def _unowned_tags(config: MigrationConfig, exp: Exposure) -> list[Notice]:
    """The operator can only tag proxies with tags the policy lets it own."""
    policy = config.tailscale.policy
    if policy is None:
        return []
    owned = set(policy.tag_owners)
    return [
        Notice(
            "warning",
            f"slice {exp.slice}",
            f"{tag} is not in tailscale.policy.tag_owners: unless the tailnet policy already "
            "lets the operator own it, the proxy is refused ('requested tags are invalid')",
        )
        for tag in exp.spec.tags
        if tag not in owned
    ]


def _missing_backends(inventory: Inventory, exp: Exposure) -> list[Notice]:
    """Each backend Service the new Ingress routes to, and its port, is in the repo."""
    notices = []
    for service, port in exp.backends if exp.spec.expose == "https" else ():
        doc = inventory.find("Service", exp.source.namespace, service)
        if doc is None:
            continue  # rendered by a chart: reported by phase 2, not checkable here
        ports = (doc.body.get("spec") or {}).get("ports") or []
        known = {p.get("port") for p in ports} | {p.get("name") for p in ports}
        if port not in known:
            notices.append(
                Notice(
                    "error",
                    str(exp.source.ref),
                    f"routes to port {port!r} of {doc}, which has no such port "
                    f"(it has {', '.join(str(p.get('name') or p.get('port')) for p in ports)})",
                )
            )
    return notices


def _repeated_backends(inventory: Inventory, exp: Exposure) -> list[Notice]:
    """A backend Service defined twice: which one the new exposure reaches is not known."""
    notices = []
    for service in sorted({s for s, _ in exp.backends}):
        copies = inventory.applied_copies(ResourceRef("Service", exp.source.namespace, service))
        if len(copies) > 1:
            where = ", ".join(f"{d.path}:{d.line}" for d in copies)
            message = (
                f"routes to Service {exp.source.namespace}/{service}, which is defined "
                f"{len(copies)} times ({where}): keep one, then plan again"
            )
            notices.append(Notice("error", str(exp.source.ref), message))
    return notices


def _patches_left(inventory: Inventory, exp: Exposure) -> list[Notice]:
    """Kustomize patches of the object phase 2 removes would keep applying to nothing."""
    notices = []
    for doc, kpath in inventory.patches(exp.source.ref):
        message = (
            f"phase 2 removes it, but the kustomize patch {doc.path}:{doc.line} (listed in "
            f"{kpath}) keeps applying to it, and the build fails on a patch without its "
            f"object: remove the patch and its entry in {kpath}, then run phase 2"
        )
        notices.append(Notice("error", str(exp.source.ref), message))
    return notices


def _duplicate_hostnames(
    config: MigrationConfig, hostnames: HostnameIndex, exp: Exposure
) -> list[Notice]:
    """Other slices deriving the same tailnet hostname on the repo as it is now."""
    clashes = hostnames.users(exp.hostname, but=exp.slice)
    if not clashes:
        return []
    message = (
        f"{config.source_path}: slices.{exp.slice}: tailnet hostname {exp.hostname!r} is also "
        f"used by slice {', '.join(clashes)}; set slices.{exp.slice}.hostname"
    )
    return [Notice("error", f"slices.{exp.slice}", message)]


def _unique(notices: Sequence[Notice]) -> list[Notice]:
    """Each notice once; a warning that an error repeats (phase 1 warns of what blocks
    phase 2) is said by the error alone."""
    errors = {(n.subject, n.message) for n in notices if n.level == "error"}
    seen: list[Notice] = []
    for notice in notices:
        repeated = notice.level == "warning" and (notice.subject, notice.message) in errors
        if notice not in seen and not repeated:
            seen.append(notice)
    return seen
