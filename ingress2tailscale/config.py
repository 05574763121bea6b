"""pydantic models of config/migration.yaml; `load_config` names file, key and line on errors."""

from __future__ import annotations

import re
import shlex
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from ingress2tailscale.errors import ConfigError, describe_yaml_error
from ingress2tailscale.kinds import (
    HOMEPAGE_HOSTS_ENV,
    HOMEPAGE_SERVICES_KEY,
    OPERATOR_OAUTH_SECRET,
    is_dns_label,
)

TAG = re.compile(r"^tag:[A-Za-z0-9][-A-Za-z0-9_]*$")
LINKS_KEY = "consumers"
NO_SLICES = (
    "no slice is defined: add one per service to move, in migration order "
    "(`python -m flows.discover --repo PATH` proposes them)"
)
SHELL_OPERATORS = {"|", "||", "&&", "&", ";", ">", ">>", "<", "2>", "2>&1"}
# how long the cluster may take, in seconds (`kubernetes.timeouts`)
RECONCILE_TIMEOUT_S = 300.0  # Flux: fetch the commit, build, apply, health checks
READY_TIMEOUT_S = 300.0  # the operator: proxy pod up, device authenticated, status written
RECYCLE_TIMEOUT_S = 180.0  # a deleted pod replaced by a Ready one
# the live checks' own waits (`validate`): the tailnet device and reachability
VALIDATE_DEADLINE_S = 300.0  # a new MagicDNS name, a proxy fetching its certificate
VALIDATE_RETRY_S = 2.0  # the pause between two attempts of an inconclusive check
ADDRESS = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]+)):(?P<port>\d{1,5})")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_tags(tags: Sequence[str]) -> list[str]:
    for tag in tags:
        if not TAG.match(tag):
            raise ValueError(f"{tag!r} is not a tag: tags look like 'tag:k8s'")
    return list(tags)


class FluxConfig(_Strict):
    namespace: str = "flux-system"
    source: str = "flux-system"
    kustomizations: list[str] = Field(default_factory=list)


class GitOpsConfig(_Strict):
    path: Path
    branch: str = "main"
    remote: str = "origin"
    push: bool = True
    flux: FluxConfig = Field(default_factory=FluxConfig)


class OperatorRef(_Strict):
    namespace: str = "tailscale"
    deployment: str = "operator"
    oauth_secret: str = OPERATOR_OAUTH_SECRET  # its OAuth client (client_id, client_secret)


class KubernetesTimeouts(_Strict):
    """Deadlines of the waits on the cluster; each wait watches, none sleeps a fixed time."""

    reconcile_s: float = Field(default=RECONCILE_TIMEOUT_S, gt=0)
    ready_s: float = Field(default=READY_TIMEOUT_S, gt=0)
    recycle_s: float = Field(default=RECYCLE_TIMEOUT_S, gt=0)


class KubernetesConfig(_Strict):
    """The cluster. Without a section: the default connection (in a pod its service account,
    else the current context of the default kubeconfig). `enabled: false` says there is no
    cluster to check: the live cluster checks are skipped, and nothing connects to one."""

    enabled: bool = True
    context: str | None = None
    kubeconfig: Path | None = None
    operator: OperatorRef = Field(default_factory=OperatorRef)
    timeouts: KubernetesTimeouts = Field(default_factory=KubernetesTimeouts)


class OAuthClientConfig(_Strict):
    terraform: Path | None = None
    resource: str = "tailscale_oauth_client.k8s_operator"
    scopes: list[str] = Field(default_factory=lambda: ["devices:core", "auth_keys", "services"])
    client_id: str | None = None
    apply: str | None = None

    @field_validator("apply")
    @classmethod
    def _no_shell_syntax(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command into words: {exc}") from None
        if "$" in value or "`" in value or SHELL_OPERATORS & set(words):
            raise ValueError(
                "the apply command runs without a shell, so `$VAR`, pipes and redirections do "
                "not work; pass Terraform variables as TF_VAR_<name> environment variables"
            )
        return value


class AclRule(_Strict):
    action: Literal["accept"] = "accept"
    src: list[str]
    dst: list[str]


class PolicyTest(_Strict):
    src: str
    proto: str | None = None
    accept: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)


class PolicyConfig(_Strict):
    source: Literal["api", "file"] = "api"
    path: Path | None = None
    tag_owners: dict[str, list[str]] = Field(default_factory=dict)
    acls: list[AclRule] = Field(default_factory=list)
    tests: list[PolicyTest] = Field(default_factory=list)

    @field_validator("tag_owners")
    @classmethod
    def _tags_are_tags(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        _check_tags(list(value))
        return value


class TailscaleConfig(_Strict):
    api_url: str = "https://api.tailscale.com"
    https: bool = True
    oauth_client: OAuthClientConfig | None = None
    policy: PolicyConfig | None = None


def _address(value: Any) -> tuple[str, int]:
    """`127.0.0.1:40001` or `[::1]:40001` as (address, port)."""
    found = ADDRESS.fullmatch(value.strip()) if isinstance(value, str) else None
    port = int(found["port"]) if found else 0
    if found is None or not 0 < port < 65536:
        raise ValueError(f"{value!r} is not ADDRESS:PORT (e.g. 127.0.0.1:40001 or [::1]:40001)")
    return (found["v6"] or found["host"], port)


Port = Annotated[int, Field(ge=1, le=65535)]


class ValidateConfig(_Strict):
    """The live checks after each phase (DESIGN.md section 5): how reachability counts, how
    long an inconclusive check is retried, and how the probes resolve names and trust TLS."""

    reachability: Literal["required", "optional", "off"] = "optional"
    # the tailnet device (and its tags) after each phase; `off` for a tailnet this machine's
    # credentials cannot list devices of
    tailnet: Literal["on", "off"] = "on"
    deadline_s: float = Field(default=VALIDATE_DEADLINE_S, gt=0)
    retry_s: float = Field(default=VALIDATE_RETRY_S, gt=0)
    ca_file: Path | None = None  # a PEM trust store for the HTTPS probe; default: the system's
    # the same map as `resolve`, as JSON in a file read at each lookup (names that come and go)
    resolve_file: Path | None = None
    resolve: dict[str, dict[Port, tuple[str, int]]] | None = None  # default: the system's DNS

    @field_validator("reachability", "tailnet", mode="before")
    @classmethod
    def _off_is_no_boolean(cls, value: Any) -> Any:
        if value is True:  # YAML 1.1 reads a bare `on` as true, `off` as false
            return "on"
        return "off" if value is False else value

    @field_validator("resolve", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        table = {}
        for name, ports in value.items():
            if not isinstance(name, str) or not name.strip(". "):
                raise ValueError(f"{name!r} is not a host name")
            if not isinstance(ports, Mapping) or not ports:
                example = "{443: 127.0.0.1:8443}"
                raise ValueError(f"{name}: map each port to ADDRESS:PORT, e.g. {example}")
            table[name.strip().rstrip(".").lower()] = {p: _address(a) for p, a in ports.items()}
        return table


class FromRef(_Strict):
    kind: Literal["Service", "Ingress", "IngressRoute", "HelmRelease"]
    namespace: str
    name: str
    # HelmRelease only: which entry of its values. app-template: the `ingress.<id>` or
    # `service.<id>` identifier; another chart: the path of its `ingress:` block (`ingress`)
    ingress: str | None = None
    service: str | None = None

    @model_validator(mode="after")
    def _entry_only_for_releases(self) -> FromRef:
        chosen = [k for k in ("ingress", "service") if getattr(self, k) is not None]
        if self.kind != "HelmRelease" and chosen:
            raise ValueError(
                f"{chosen[0]} selects an entry of HelmRelease values; kind is {self.kind}"
            )
        if self.kind == "HelmRelease" and len(chosen) != 1:
            raise ValueError(
                "a HelmRelease source names one entry of its values: `ingress: <id>` "
                "(app-template `ingress.<id>`, or `ingress` for a chart's ingress block) or "
                "`service: <id>` (app-template `service.<id>`)"
            )
        return self


class BackendOverride(_Strict):
    service: str
    port: int | str


class ServiceSlice(_Strict):
    """A slice that moves one exposed service onto the tailnet."""

    expose: Literal["tcp", "https"]
    source: FromRef = Field(alias="from")
    hostname: str | None = None
    tags: list[str] = Field(default_factory=lambda: ["tag:k8s"])
    cleanup: Literal["delete", "comment-out"] = "delete"
    accept_auth_change: bool = False
    name: str | None = None  # name of the new object; default <old name>-tailnet
    backend: BackendOverride | None = None
    selector: dict[str, str] | None = None
    old_host: str | None = None

    @field_validator("hostname")
    @classmethod
    def _hostname_is_label(cls, value: str | None) -> str | None:
        if value is not None and not is_dns_label(value):
            raise ValueError(
                f"{value!r} is not a DNS label (lowercase letters, digits and '-', at most 63)"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags_are_tags(cls, value: list[str]) -> list[str]:
        return _check_tags(value)

    @model_validator(mode="after")
    def _consistent(self) -> ServiceSlice:
        release = self.source.kind == "HelmRelease"
        if self.expose == "tcp" and not (
            self.source.kind == "Service" or (release and self.source.service)
        ):
            raise ValueError(
                "expose: tcp moves a MetalLB LoadBalancer Service (from.kind: Service, or a "
                "HelmRelease with from.service); for an Ingress use expose: https"
            )
        if release and self.cleanup == "comment-out":
            raise ValueError(
                "cleanup: comment-out keeps an old manifest as comments; a HelmRelease's entry "
                "is edited in its values (git revert restores it): leave cleanup out"
            )
        if self.expose == "https" and release and not self.source.ingress:
            raise ValueError(
                "expose: https moves an ingress: from.ingress names the entry of the values"
            )
        if self.name is not None and self.name == self.source.name:
            raise ValueError(
                f"name {self.name!r} is the old object's own name; the tailnet object needs "
                "another (default: <old name>-tailnet)"
            )
        return self


class HomepageConsumer(_Strict):
    namespace: str
    configmap: str
    deployment: str
    key: str = HOMEPAGE_SERVICES_KEY
    env: str = HOMEPAGE_HOSTS_ENV


class Consumers(_Strict):
    homepage: HomepageConsumer | None = None


class LinksSlice(_Strict):
    """The slice that makes consumers (dashboards) follow the migrated services."""

    consumers: Consumers


def _slice_kind(value: Any) -> str:
    return "links" if isinstance(value, Mapping) and LINKS_KEY in value else "service"


Slice = Annotated[
    Annotated[ServiceSlice, Tag("service")] | Annotated[LinksSlice, Tag("links")],
    Discriminator(_slice_kind),
]


class PrefectSettings(_Strict):
    """How runs wait: for another run's hold on the repo or tailnet policy, and for approval."""

    lock_wait_s: float = Field(default=600.0, gt=0)  # then the run fails naming the holder
    approval_timeout_s: float = Field(default=24 * 3600.0, gt=0)  # then the slice is rolled back
    approval_poll_s: float = Field(default=2.0, gt=0)  # how often a paused run looks for Resume


class DriftSettings(_Strict):
    """The scheduled drift check of `flows.serve`."""

    schedule: str = "0 * * * *"  # cron, in the Prefect server's time zone
    concurrency: int = Field(default=8, ge=1)  # slices checked at the same time


class NotifySettings(_Strict):
    """Where failed drift and migrate runs are reported. The webhook URL is a secret: it comes
    from an environment variable or a Prefect Secret block, never from this file."""

    webhook_env: str | None = None  # the environment variable that holds the URL
    webhook_secret_block: str | None = None  # or the name of a Prefect Secret block
    allow_private_urls: bool = False  # a webhook on a private address (a LAN receiver)


class MigrationConfig(_Strict):
    tailnet: str
    gitops: GitOpsConfig
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    tailscale: TailscaleConfig = Field(default_factory=TailscaleConfig)
    # `validate` would shadow pydantic's BaseModel.validate; the YAML key is `validate`
    validation: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    prefect: PrefectSettings = Field(default_factory=PrefectSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    slices: dict[str, Slice]
    source_path: Path = Field(default=Path("migration.yaml"), exclude=True)
    _by_kind: tuple[dict[str, Slice], dict[str, ServiceSlice], dict[str, LinksSlice]] | None = (
        PrivateAttr(None)
    )

    @field_validator("kubernetes", mode="before")
    @classmethod
    def _section_given(cls, value: Any) -> Any:
        return {} if value is None else value  # `kubernetes:` left empty: the defaults

    @field_validator("slices", mode="before")
    @classmethod
    def _some_slices(cls, value: Any) -> Any:
        if value is None:  # `slices:` left empty reads as null
            raise ValueError(NO_SLICES)
        return value

    @property
    def repo_path(self) -> Path:
        return self.gitops.path

    def service_slices(self) -> dict[str, ServiceSlice]:
        """The slices that move a service (not `links`), in config order; made once, as the
        planner asks for them for every slice (do not change the dict)."""
        return self._slices_by_kind()[1]

    def links_slices(self) -> dict[str, LinksSlice]:
        """The `links` slices, in config order (do not change the dict)."""
        return self._slices_by_kind()[2]

    def _slices_by_kind(
        self,
    ) -> tuple[dict[str, Slice], dict[str, ServiceSlice], dict[str, LinksSlice]]:
        cached = self._by_kind
        if cached is None or cached[0] is not self.slices:
            services = {k: v for k, v in self.slices.items() if isinstance(v, ServiceSlice)}
            links = {k: v for k, v in self.slices.items() if isinstance(v, LinksSlice)}
            cached = self._by_kind = (self.slices, services, links)
        return cached

    def slice_names(self) -> list[str]:
        return list(self.slices)


def load_config(path: Path) -> MigrationConfig:
    """Read, validate and resolve a config file; every problem becomes one ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte {exc.start} cannot be read); the config is "
            "YAML text: point --config at config/migration.yaml"
        ) from None
    if "\0" in text:
        raise ConfigError(f"{path}: a binary file, not a YAML config; point --config at the YAML")
    try:
        root = yaml.compose(text, Loader=yaml.CSafeLoader)
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {describe_yaml_error(exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping with tailnet, gitops, slices")
    try:
        config = MigrationConfig.model_validate({**data, "source_path": path})
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, root, exc)) from None
    config = _resolve_paths(config, path.parent)
    _check_unique_hostnames(config, path, root)
    _check_ca_file(config, path, root)
    return config


def _check_ca_file(config: MigrationConfig, path: Path, root: yaml.Node | None) -> None:
    """`validate.ca_file` is a PEM file the TLS library accepts as a trust store."""
    ca_file = config.validation.ca_file
    if ca_file is None:
        return
    where = f"{_where(path, root, ('validate', 'ca_file'))}: validate.ca_file"
    if not ca_file.is_file():
        raise ConfigError(f"{where}: {ca_file} does not exist; point it at a PEM CA bundle")
    try:
        ssl.create_default_context(cafile=str(ca_file))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"{where}: {ca_file} is not a PEM trust store ({type(exc).__name__}); point it at "
            "the PEM file of the CA that issued the tailnet certificates"
        ) from None


def _resolve_paths(config: MigrationConfig, base: Path) -> MigrationConfig:
    def resolve(p: Path | None) -> Path | None:
        return None if p is None else (base / p).resolve()

    gitops = config.gitops.model_copy(update={"path": resolve(config.gitops.path)})
    kube = config.kubernetes.model_copy(
        update={"kubeconfig": resolve(config.kubernetes.kubeconfig)}
    )
    v = config.validation
    checks = v.model_copy(
        update={"ca_file": resolve(v.ca_file), "resolve_file": resolve(v.resolve_file)}
    )
    ts = config.tailscale
    if ts.oauth_client is not None:
        oc = ts.oauth_client.model_copy(update={"terraform": resolve(ts.oauth_client.terraform)})
        ts = ts.model_copy(update={"oauth_client": oc})
    if ts.policy is not None:
        ts = ts.model_copy(
            update={"policy": ts.policy.model_copy(update={"path": resolve(ts.policy.path)})}
        )
    update = {"gitops": gitops, "kubernetes": kube, "tailscale": ts, "validation": checks}
    return config.model_copy(update=update)


def _check_unique_hostnames(config: MigrationConfig, path: Path, root: yaml.Node | None) -> None:
    seen: dict[str, str] = {}
    for name, sl in config.service_slices().items():
        if sl.hostname is None:
            continue
        if sl.hostname in seen:
            where = _where(path, root, ("slices", name, "hostname"))
            raise ConfigError(
                f"{where}: slices.{name}.hostname {sl.hostname!r} is already used by slice "
                f"{seen[sl.hostname]!r}; each slice needs its own tailnet hostname"
            )
        seen[sl.hostname] = name


def _format_errors(path: Path, root: yaml.Node | None, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("service", "links"))
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see config/migration.yaml for the known keys)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{_where(path, root, loc)}: {key}: {msg}")
    return "invalid config:\n  " + "\n  ".join(lines)


def _where(path: Path, root: yaml.Node | None, loc: Sequence[Any]) -> str:
    line = _line_of(root, loc)
    return f"{path}:{line}" if line else str(path)


def _line_of(node: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    """Line of the deepest node of `loc` found in the composed YAML tree (1-based)."""
    found = node
    for part in loc:
        child = _child(found, part)
        if child is None:
            break
        found = child
    return None if found is None else found.start_mark.line + 1


def _child(node: yaml.Node | None, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return key if not isinstance(value, yaml.CollectionNode) else value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]  # PyYAML nodes are untyped
    return None
