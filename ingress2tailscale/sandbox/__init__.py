"""Stand-ins for the systems around a migration, for tests and `--sandbox`: `tailnet/` (the
Tailscale API emulator), `cluster/` (the Kubernetes API emulator; the Flux and operator
simulators are not built yet) and `terraform_apply` (the apply command that updates the
emulated OAuth client).

May import: anything of the domain package; product code never imports the sandbox.
"""
