resource "tailscale_oauth_client" "k8s_operator" {
  description = "tazlab-k8s-operator"
  scopes = [
    "auth_keys", # proxies need auth keys
    "devices:core",
    "services",
  ]
  tags = ["tag:k8s-operator"]
}
