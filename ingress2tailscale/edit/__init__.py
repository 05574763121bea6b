"""Text-keeping editors, pure: YAML manifests (ruamel round-trip), HuJSON splicing and the
policy it must hold, Terraform attribute splices, and the rendering of a proposed config.

May import: `repo` (to re-scan an edited text), `model`, `config`, `errors`, `kinds`.
"""
