"""Adapters plugged in: the entry-point registry, their host, the `/channels/<id>/` mount."""
