"""The escalation engine: the breach sweep (claim, plan, write), its wake-ups and health,
the chain (rungs and their acknowledgement), the roster (who is on shift) and paging."""
