"""Stand-ins for the systems around a migration, for tests and `--sandbox`: `tailnet/` (the
Tailscale API emulator), `cluster/` (the Kubernetes API emulator and the Flux and operator
simulators acting on it), `endpoints` (loopback TCP and HTTPS servers for the tailnet names,
their CA and the name map), `faults` (the failures armed for a rehearsal) and
`terraform_apply` (the apply command that updates the emulated OAuth client).

May import: anything of the domain package; product code never imports the sandbox.
"""
