"""Pulumi ComponentResources, one per concern; each takes a dataclass of arguments."""
