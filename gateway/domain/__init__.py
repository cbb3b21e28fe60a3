"""The inbox's rules: participants, messages, records, delivery statuses, opt-outs, windows."""
