"""The Kubernetes, Flux, Traefik, MetalLB and Tailscale operator vocabulary the tool reads and
writes: API groups, kinds, annotation keys, classes and file names. Each fact is defined here
once; modules import it from here."""

from __future__ import annotations

import re

# files
YAML_SUFFIXES = (".yaml", ".yml")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
HELM_CHART_FILE = "Chart.yaml"  # marks a Helm chart's folder: templates, not manifests

# API groups (as prefixes of an apiVersion)
KUSTOMIZE_API_GROUP = "kustomize.config.k8s.io"
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/"
TRAEFIK_API_GROUPS = ("traefik.io/", "traefik.containo.us/")

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

# Flux's Helm controller: exposures inside a release's values are not migrated yet
HELM_RELEASE_KIND = "HelmRelease"
HELM_VALUES_KEY = "values.yaml"  # a valuesFrom source's default key

# homepage, the dashboard whose links follow a slice
HOMEPAGE_SERVICES_KEY = "services.yaml"
HOMEPAGE_HOSTS_ENV = "HOMEPAGE_ALLOWED_HOSTS"


def is_dns_label(value: object) -> bool:
    """Whether `value` is a whole RFC 1123 label (no partial or trailing-newline match)."""
    return isinstance(value, str) and DNS_LABEL.fullmatch(value) is not None
