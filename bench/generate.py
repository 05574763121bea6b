"""A synthetic Flux repo of N apps (Deployment, Service, Traefik Ingress, kustomization each),
deterministic, with the comments and variations of a real one, plus a config of a few slices."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

APPS_PER_TEAM = 100  # apps of one namespace
TLS_TEAM_EVERY = 5  # every 5th namespace gets its wildcard certificate from an ExternalSecret
METALLB_EVERY = 10  # every 10th Service is a MetalLB LoadBalancer...
METALLB_AT = 7  # ...the ones whose index ends in 7
UNAUTHENTICATED_EVERY = 4  # every 4th Ingress is public (no forward-auth middleware)
FORCED_NAMESPACE_EVERY = 3  # every 3rd kustomization sets `namespace:` too
MIN_APPS = 20
DOMAIN = "example.net"
TAILNET = "bench-tailnet.ts.net"
WILDCARD_SECRET = "wildcard-example-net-tls"
FORWARD_AUTH = "auth-oauth2-proxy@kubernetescrd"
IMAGES = ("ghcr.io/acme/web:1.14.2", "ghcr.io/acme/api:3.2.0", "nginx:1.27-alpine")
PORTS = (8080, 3000, 80)
GIT_IDENTITY = ("-c", "user.name=Bench Generator", "-c", "user.email=bench@example.test")


def app_name(index: int) -> str:
    return f"app-{index:04d}"


def team_of(index: int) -> str:
    return f"team-{index // APPS_PER_TEAM:02d}"


def is_metallb(index: int) -> bool:
    return index % METALLB_EVERY == METALLB_AT


def is_tls_team(index: int) -> bool:
    return (index // APPS_PER_TEAM) % TLS_TEAM_EVERY == 0


def generate_repo(root: Path, apps: int) -> None:
    """Write the repo under `root` (emptied first)."""
    if apps < MIN_APPS:
        raise ValueError(f"at least {MIN_APPS} apps are needed (the slices use apps 7 and 17)")
    shutil.rmtree(root, ignore_errors=True)
    for path, text in iter_files(apps):
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def iter_files(apps: int) -> list[tuple[str, str]]:
    files = [*shared_files(apps)]
    for index in range(apps):
        files += app_files(index)
    return files


def commit_repo(root: Path) -> None:
    """Make `root` a git repo with everything committed, as a user's GitOps clone would be."""
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "Apps")):
        subprocess.run(["git", *GIT_IDENTITY, *args], cwd=root, check=True, timeout=300)


def shared_files(apps: int) -> list[tuple[str, str]]:
    teams = sorted({team_of(i) for i in range(apps)})
    listed = "".join(f"  - {app_name(i)}\n" for i in range(apps))
    return [
        ("README.md", "# Synthetic Flux repo for the ingress2tailscale benchmark\n"),
        ("clusters/bench/flux-system/gotk-sync.yaml", GOTK_SYNC),
        ("clusters/bench/flux-system/kustomization.yaml", kustomization(["gotk-sync.yaml"])),
        ("clusters/bench/apps.yaml", FLUX_KUSTOMIZATIONS),
        ("infrastructure/namespaces/namespaces.yaml", "---\n".join(map(namespace, teams))),
        ("infrastructure/namespaces/kustomization.yaml", kustomization(["namespaces.yaml"])),
        ("infrastructure/auth/middleware.yaml", MIDDLEWARE),
        ("infrastructure/auth/kustomization.yaml", kustomization(["middleware.yaml"])),
        ("infrastructure/kustomization.yaml", kustomization(["namespaces", "auth"])),
        ("apps/kustomization.yaml", f"{KUSTOMIZE_HEAD}resources:\n{listed}"),
    ]


def app_files(index: int) -> list[tuple[str, str]]:
    folder = f"apps/{app_name(index)}"
    names = ["deployment.yaml", "service.yaml", "ingress.yaml"]
    files = [(f"{folder}/deployment.yaml", deployment(index))]
    files += [(f"{folder}/service.yaml", service(index))]
    files += [(f"{folder}/ingress.yaml", ingress(index))]
    if is_tls_team(index) and index % APPS_PER_TEAM == 0:
        names.append("wildcard-tls.yaml")
        files.append((f"{folder}/wildcard-tls.yaml", external_secret(team_of(index))))
    forced = team_of(index) if index % FORCED_NAMESPACE_EVERY == 0 else None
    header = f"# {app_name(index)}, owned by {team_of(index)}.\n"
    files.append((f"{folder}/kustomization.yaml", header + kustomization(names, forced)))
    return files


KUSTOMIZE_HEAD = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"


def kustomization(resources: list[str], namespace: str | None = None) -> str:
    forced = f"namespace: {namespace}\n" if namespace else ""
    return KUSTOMIZE_HEAD + forced + "resources:\n" + "".join(f"  - {r}\n" for r in resources)


def namespace(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n" + (
        f"    toolkit.fluxcd.io/tenant: {name}\n"
    )


def deployment(index: int) -> str:
    name, team = app_name(index), team_of(index)
    image, port = IMAGES[index % len(IMAGES)], PORTS[index % len(PORTS)]
    return f"""\
# {name}: stateless web front-end of {team}. Scaled by hand; see the team's runbook.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {team}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/part-of: {team}
spec:
  replicas: {1 + index % 3}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
        app.kubernetes.io/part-of: {team}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "{port}"
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        fsGroup: 10001
      containers:
        - name: app
          image: {image}
          args: ["--listen=:{port}", "--log-format=json"]
          env:
            - name: APP_NAME
              value: {name}
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {name}-db   # written by the team's ExternalSecret
                  key: url
          ports:
            - name: http
              containerPort: {port}
              protocol: TCP
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 10
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            initialDelaySeconds: 15
          resources:
            requests:
              cpu: 50m
              memory: 64Mi
            limits:
              memory: 256Mi
"""


def service(index: int) -> str:
    name, team = app_name(index), team_of(index)
    port = PORTS[index % len(PORTS)]
    lan = is_metallb(index)
    comment = f"# {name} on the LAN too, through MetalLB.\n" if lan else f"# {name} in-cluster.\n"
    return f"""\
{comment}apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {team}
  labels:
    app.kubernetes.io/name: {name}
{metallb_annotations(index) if lan else ""}spec:
  type: {"LoadBalancer" if lan else "ClusterIP"}
{"  externalTrafficPolicy: Local  # keep client IPs" + chr(10) if lan else ""}\
  selector:
    app.kubernetes.io/name: {name}
  ports:
    - name: http
      port: {port}
      targetPort: http
      protocol: TCP
"""


def metallb_annotations(index: int) -> str:
    address = f"10.20.{index // 256}.{index % 256}"
    if (index // METALLB_EVERY) % 2 == 0:
        return f"  annotations:\n    metallb.io/loadBalancerIPs: {address}\n"
    return (
        "  annotations:\n"
        "    metallb.universe.tf/address-pool: lan-pool  # pre-0.14 prefix\n"
        f"    metallb.universe.tf/allow-shared-ip: {app_name(index)}\n"
    )


def ingress(index: int) -> str:
    name, team = app_name(index), team_of(index)
    host, port = f"{name}.{DOMAIN}", PORTS[index % len(PORTS)]
    secret = WILDCARD_SECRET if is_tls_team(index) else f"{name}-tls"
    return f"""\
# https://{host} through Traefik{", behind SSO" if has_forward_auth(index) else " (public)"}.
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: {team}
  annotations:
    traefik.ingress.kubernetes.io/router.entrypoints: websecure
    traefik.ingress.kubernetes.io/router.tls: "true"
{ingress_annotations(index)}spec:
  ingressClassName: traefik
  tls:
    - hosts:
        - {host}
      secretName: {secret}
  rules:
    - host: {host}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {name}
                port:
                  number: {port}
"""


def has_forward_auth(index: int) -> bool:
    return index % UNAUTHENTICATED_EVERY != UNAUTHENTICATED_EVERY - 1


def ingress_annotations(index: int) -> str:
    lines = []
    if has_forward_auth(index):
        lines.append(f"    traefik.ingress.kubernetes.io/router.middlewares: {FORWARD_AUTH}\n")
    if not is_tls_team(index):
        lines.append("    cert-manager.io/cluster-issuer: letsencrypt  # issues <app>-tls\n")
    return "".join(lines)


def external_secret(team: str) -> str:
    return f"""\
# *.{DOMAIN} certificate, shared by every Ingress of {team}.
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: {WILDCARD_SECRET}
  namespace: {team}
spec:
  refreshInterval: 1h
  secretStoreRef:
    kind: ClusterSecretStore
    name: vault-backend
  target:
    name: {WILDCARD_SECRET}
    creationPolicy: Owner
    template:
      type: kubernetes.io/tls
  data:
    - secretKey: tls.crt
      remoteRef: {{key: tls/wildcard-example-net, property: tls.crt}}
    - secretKey: tls.key
      remoteRef: {{key: tls/wildcard-example-net, property: tls.key}}
"""


def slice_apps(apps: int) -> dict[str, tuple[str, int]]:
    """Slice name -> (kind of its `from` object, app index); `web` is the benchmarked one."""
    return {
        "web": ("Ingress", min(1000, apps // 2)),
        "shop": ("Ingress", apps * 3 // 4),
        "db": ("Service", METALLB_AT),
        "cache": ("Service", METALLB_EVERY + METALLB_AT),
    }


def write_config(path: Path, repo: Path, apps: int) -> None:
    """A migration config for the generated repo: https slices from Ingresses, tcp from MetalLB."""
    lines = [f"tailnet: {TAILNET}", "gitops:", f"  path: {repo.resolve()}", "slices:"]
    for name, (kind, index) in slice_apps(apps).items():
        expose = "https" if kind == "Ingress" else "tcp"
        source = f"{{kind: {kind}, namespace: {team_of(index)}, name: {app_name(index)}}}"
        lines += [f"  {name}:", f"    expose: {expose}", f"    from: {source}"]
        lines += ['    tags: ["tag:k8s"]']
        lines += ["    accept_auth_change: true"] if expose == "https" else []
        lines += ["    cleanup: comment-out"] if name == "db" else []
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


GOTK_SYNC = """\
# Flux bootstraps from this file: the repo itself, and the root Kustomization.
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  secretRef:
    name: flux-system
  url: ssh://git@github.com/acme/bench-fleet
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./clusters/bench
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

FLUX_KUSTOMIZATIONS = """\
# infrastructure (namespaces, the SSO middleware) -> apps
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infrastructure
  namespace: flux-system
spec:
  interval: 1h
  path: ./infrastructure
  prune: true
  wait: true
  sourceRef: {kind: GitRepository, name: flux-system}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  dependsOn:
    - name: infrastructure
  interval: 10m
  path: ./apps
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
"""

MIDDLEWARE = """\
# oauth2-proxy as Traefik forward-auth: Ingresses opt in with auth-oauth2-proxy@kubernetescrd.
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: oauth2-proxy
  namespace: auth
spec:
  forwardAuth:
    address: http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth
    trustForwardHeader: true
    authResponseHeaders: [X-Auth-Request-User, X-Auth-Request-Email]
"""
