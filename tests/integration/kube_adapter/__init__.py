"""The Kubernetes adapter against the Kubernetes emulator over real loopback sockets, through a
generated kubeconfig: each method's result, the waits waking on a change made by another
thread, their failure and timeout paths, pod recycling, and `connect`'s errors."""
