"""ingress2tailscale: move cluster services from Traefik/MetalLB exposure onto a tailnet."""

__version__ = "0.1.0"
