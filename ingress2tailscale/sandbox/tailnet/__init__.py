"""The tailnet emulator (`emulator.TailnetEmulator`): the Tailscale API v2 subset we use,
stateful, served on loopback; `state`, `auth`, `routes`, `inventory`, `policy_eval` are parts."""
