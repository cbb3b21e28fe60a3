"""inbox-gateway: the daemon."""
