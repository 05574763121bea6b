"""The only importers of vendor clients: the Tailscale API (httpx), git (GitPython), the
Kubernetes API (`kubernetes`, in `kubernetes/` alone) and external commands. Each takes its
client or target in its constructor; vendor faults become errors of `ingress2tailscale.errors`
in one place per adapter.

May import: `model`, `config`, `errors`, `kinds`, and `edit` only for pure text helpers.
"""
