"""Stand-ins for the systems around a migration, for tests and `--sandbox`: `tailnet/` (the
Tailscale API emulator) and `terraform_apply` (the apply command that updates the emulated
OAuth client). The emulated cluster (Kubernetes, Flux, the operator) is not built yet.

May import: anything of the domain package; product code never imports the sandbox.
"""
