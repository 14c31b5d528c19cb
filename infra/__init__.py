"""Pulumi program for meridian's estate (see infra/README.md); `__main__.py` is the entry point."""
