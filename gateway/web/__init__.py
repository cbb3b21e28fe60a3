"""What people and programs use over HTTP: the REST API and the agents' inbox page."""
