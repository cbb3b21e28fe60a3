"""What happened, told to whoever listens: the outbox, the live feed, webhook subscribers."""
