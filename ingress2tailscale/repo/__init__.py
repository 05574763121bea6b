"""Reading the GitOps tree, pure: the inventory, the cheap scan, its index and persistent cache,
and the namespaces kustomize or Flux force on a folder.

May import: `ingress2tailscale.model`, `.config`, `.errors`, `.kinds`. Nothing above it.
"""
