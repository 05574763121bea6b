"""The Kubernetes, Flux, Traefik, MetalLB and Tailscale operator vocabulary the tool reads and
writes: API groups, kinds, annotation keys, classes and file names. Each fact is defined here
once; modules import it from here."""

from __future__ import annotations

import re
from dataclasses import dataclass

# files
YAML_SUFFIXES = (".yaml", ".yml")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
HELM_CHART_FILE = "Chart.yaml"  # marks a Helm chart's folder: templates, not manifests

# API groups (as prefixes of an apiVersion)
KUSTOMIZE_API_GROUP = "kustomize.config.k8s.io"
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/"
TRAEFIK_API_GROUPS = ("traefik.io/", "traefik.containo.us/")


@dataclass(frozen=True)
class ApiKind:
    """A resource type as the API server serves it: `/apis/<group>/<version>/…/<plural>`."""

    kind: str
    group: str  # "" for the core group (`/api/v1`)
    version: str
    plural: str
    namespaced: bool = True
    crd_of: str = ""  # who installs the CRD; "" for a built-in kind

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


# the kinds the tool reads and pokes in a live cluster
SERVICE = ApiKind("Service", "", "v1", "services")
SECRET = ApiKind("Secret", "", "v1", "secrets")
POD = ApiKind("Pod", "", "v1", "pods")
EVENT = ApiKind("Event", "", "v1", "events")
NAMESPACE = ApiKind("Namespace", "", "v1", "namespaces", namespaced=False)
INGRESS = ApiKind("Ingress", "networking.k8s.io", "v1", "ingresses")
DEPLOYMENT = ApiKind("Deployment", "apps", "v1", "deployments")
GIT_REPOSITORY = ApiKind(
    "GitRepository", "source.toolkit.fluxcd.io", "v1", "gitrepositories", crd_of="Flux"
)
KUSTOMIZATION = ApiKind(
    "Kustomization", "kustomize.toolkit.fluxcd.io", "v1", "kustomizations", crd_of="Flux"
)
EXTERNAL_SECRET = ApiKind(
    "ExternalSecret",
    "external-secrets.io",
    "v1beta1",
    "externalsecrets",
    crd_of="External Secrets Operator",
)
PROXY_CLASS = ApiKind(
    "ProxyClass",
    "tailscale.com",
    "v1alpha1",
    "proxyclasses",
    namespaced=False,
    crd_of="the Tailscale operator",
)
CONNECTOR = ApiKind(
    "Connector",
    "tailscale.com",
    "v1alpha1",
    "connectors",
    namespaced=False,
    crd_of="the Tailscale operator",
)
TRAEFIK_KINDS = tuple(
    ApiKind(kind, group.rstrip("/"), "v1alpha1", plural, crd_of="Traefik")
    for group in TRAEFIK_API_GROUPS
    for kind, plural in (("IngressRoute", "ingressroutes"), ("Middleware", "middlewares"))
)
CUSTOM_KINDS = (
    GIT_REPOSITORY,
    KUSTOMIZATION,
    EXTERNAL_SECRET,
    *TRAEFIK_KINDS,
    PROXY_CLASS,
    CONNECTOR,
)

# Flux and External Secrets: what asks a controller to act now (contract C.1, C.2)
RECONCILE_ANNOTATION = "reconcile.fluxcd.io/requestedAt"
FORCE_SYNC_ANNOTATION = "force-sync"
READY_CONDITION = "Ready"
# the labels Flux puts on every object a Kustomization applies (what it prunes by)
FLUX_NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
FLUX_NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"

# Kubernetes names: an RFC 1123 label (a tailnet hostname is one too)
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")

# Traefik and MetalLB: the old exposure
TRAEFIK_CLASS = "traefik"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
MIDDLEWARE_ANNOTATION = "traefik.ingress.kubernetes.io/router.middlewares"
MIDDLEWARE_KIND = "Middleware"
INGRESS_ROUTE_KIND = "IngressRoute"
ROUTE_KINDS = ("Ingress", INGRESS_ROUTE_KIND)  # the old HTTP exposures a slice moves
ROUTE_MIDDLEWARES = "routes[].middlewares"  # where an IngressRoute names its middlewares
FORWARD_AUTH_KEY = "forwardAuth"  # a Middleware's spec key: the route is behind a login
ALLOW_LIST_KEYS = ("ipAllowList", "ipWhiteList")  # the same, Traefik v3 and v2 spelling
METALLB_PREFIXES = ("metallb.io/", "metallb.universe.tf/")
CILIUM_LB_PREFIXES = ("lbipam.cilium.io/", "io.cilium/lb-ipam")  # Cilium LB-IPAM
LAN_LB_PREFIXES = METALLB_PREFIXES + CILIUM_LB_PREFIXES  # a LAN load balancer's annotations
CILIUM_POOL_KIND = "CiliumLoadBalancerIPPool"  # with one, Cilium serves plain LoadBalancers
# Services that share one LAN address (the address is freed with the last of them)
SHARED_IP_ANNOTATIONS = (
    "metallb.io/allow-shared-ip",
    "metallb.universe.tf/allow-shared-ip",
    "lbipam.cilium.io/sharing-key",
)

# the Tailscale Kubernetes Operator: the new exposure
TAILSCALE_CLASS = "tailscale"
HOSTNAME_ANNOTATION = "tailscale.com/hostname"
TAGS_ANNOTATION = "tailscale.com/tags"
EXPOSE_ANNOTATION = "tailscale.com/expose"  # a Service the operator already exposes
FORWARD_ANNOTATION = "tailscale.com/experimental-forward-cluster-traffic-via-ingress"
PROXY_READY_CONDITION = "TailscaleProxyReady"
PROXY_INVALID_REASON = "ProxyInvalid"  # its reason when the operator will not expose the Service
# labels on the proxy objects the operator makes for a parent Ingress or Service (contract B.4)
PARENT_RESOURCE_LABEL = "tailscale.com/parent-resource"
PARENT_NAMESPACE_LABEL = "tailscale.com/parent-resource-ns"
PARENT_TYPE_LABEL = "tailscale.com/parent-resource-type"
PARENT_TYPES = {"Ingress": "ingress", "Service": "svc"}
# state keys the proxy writes into its Secret; the only ones the tool ever reads
DEVICE_FQDN_KEY = "device_fqdn"
HTTPS_ENDPOINT_KEY = "https_endpoint"
NO_HTTPS_ENDPOINT = "no-https"  # its value when the tailnet has no HTTPS certificates
# the operator's own OAuth client: a Secret in its namespace (contract B.1)
OPERATOR_OAUTH_SECRET = "operator-oauth"
OPERATOR_CLIENT_ID_KEY = "client_id"
OPERATOR_CLIENT_SECRET_KEY = "client_secret"

# Flux's Helm controller, and the values of the charts a slice edits
HELM_RELEASE_KIND = "HelmRelease"
HELM_VALUES_KEY = "values.yaml"  # a valuesFrom source's default key
APP_TEMPLATE_CHART = "app-template"  # bjw-s: `ingress.<id>` and `service.<id>` maps
TAILNET_ENTRY = "tailnet"  # the entry phase 1 adds next to the old one in app-template values

# dashboards that read an exposure's annotations (homepage, hajimari): carried to the tailnet
DASHBOARD_PREFIXES = ("gethomepage.dev/", "hajimari.io/")
DASHBOARD_URL_ANNOTATIONS = {  # each dashboard's link to the app
    "gethomepage.dev/": "gethomepage.dev/href",
    "hajimari.io/": "hajimari.io/url",
}
FLUX_VARIABLE = r"\$\{[A-Za-z_][A-Za-z0-9_]*\}"  # a postBuild substitution: ${SECRET_DOMAIN}

# homepage, the dashboard whose links follow a slice
HOMEPAGE_SERVICES_KEY = "services.yaml"
HOMEPAGE_HOSTS_ENV = "HOMEPAGE_ALLOWED_HOSTS"


def is_dns_label(value: object) -> bool:
    """Whether `value` is a whole RFC 1123 label (no partial or trailing-newline match)."""
    return isinstance(value, str) and DNS_LABEL.fullmatch(value) is not None
