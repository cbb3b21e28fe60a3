"""Outgoing webhooks (SPEC section 5): signed POSTs of every event, retried, in order."""
