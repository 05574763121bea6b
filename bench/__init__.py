"""The inventory + plan benchmark: a synthetic Flux repo (`generate`) and its timing (`run`)."""
