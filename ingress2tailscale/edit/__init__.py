"""Text-keeping editors, pure: YAML manifests (ruamel round-trip), HuJSON splicing and the
policy it must hold, Terraform attribute splices.

May import: `repo` (to re-scan an edited text), `model`, `config`, `errors`, `kinds`.
"""
