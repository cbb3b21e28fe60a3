"""Events from adapters into the store: dedupe, group commit, numbered-reply matching."""
