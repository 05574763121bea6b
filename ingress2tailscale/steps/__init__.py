"""Plan and apply of each step, what the Prefect tasks wrap: the tailnet prerequisites
(oauth-scopes, tailnet-https, acl) and the repo steps (phase 1, validate, phase 2, links).

May import: `plan`, `checks`, `edit`, `repo`, `adapters` (clients are passed in), `model`,
`config`, `errors`, `kinds`. Never `prefect`.
"""
