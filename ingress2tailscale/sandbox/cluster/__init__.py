"""The emulated cluster: `kube.KubeEmulator` (kmock's Kubernetes emulator on loopback, reached
through a generated kubeconfig by the official client). The Flux and operator simulators that
will act on it are not built yet.

May import: anything of the domain package (as `sandbox/` may); product code never imports it.
"""
