"""The emulated cluster: `kube.KubeEmulator` (kmock's Kubernetes emulator on loopback, reached
through a generated kubeconfig by the official client) and the controllers acting on it,
`flux.FluxSimulator` (with `render`) and `operator.OperatorSimulator` (with `proxies`), each a
`loop.PollLoop`.

May import: anything of the domain package (as `sandbox/` may); product code never imports it.
"""
