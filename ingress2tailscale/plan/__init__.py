"""Deciding, pure: what a slice derives from its `from` object (exposure), the phase edits,
the consumers that follow, the planner that turns inventory + config into plans, and
discovery with the config it proposes (rendered here: a new file, not an edit of the user's).

May import: `repo`, `edit`, `checks`, `model`, `config`, `errors`, `kinds`. Never `adapters`.
"""
