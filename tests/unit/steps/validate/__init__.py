"""The live checks against the real emulators over loopback: the Kubernetes emulator seeded as
Flux and the operator would leave it, the tailnet emulator with the proxy's device, and real
servers behind a static name map. Each check's pass, fail and inconclusive paths, which checks
block the slice, and what a check that was not run says."""
