"""Static validation of planned files: manifest rules and strict schemas, kustomize builds,
and the verdicts of both kept between runs.

May import: `edit` (to read a document), `repo`, `model`, `errors`, `kinds`. Never `adapters`.
"""
