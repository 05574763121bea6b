// CI runners join the tailnet with their own client.
resource "tailscale_oauth_client" "ci" {
  description = "github-actions"
  scopes      = ["auth_keys"]
  tags        = ["tag:ci"]
}

resource "tailscale_oauth_client" "k8s_operator" {
  description = "tazlab-k8s-operator"
  scopes      = ["auth_keys"]
  tags        = ["tag:k8s-operator"]
}
