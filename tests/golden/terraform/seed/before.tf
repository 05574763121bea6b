# OAuth client used by the Tailscale Kubernetes operator (tazlab).
# Scopes: https://tailscale.com/kb/1623/trust-credentials

resource "tailscale_oauth_client" "k8s_operator" {
  description = "tazlab-k8s-operator" # shown in the admin console
  scopes      = ["devices", "auth_keys"]
  tags        = ["tag:k8s-operator"]
}

/* The client id goes into the operator-oauth Secret. */
output "k8s_operator_client_id" {
  value = tailscale_oauth_client.k8s_operator.id
}
