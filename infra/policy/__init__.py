"""CrossGuard policy pack. Policies live in `policies.py` (plain functions, testable without
the CLI); `__main__.py` only serves them to `pulumi preview --policy-pack infra/policy`."""
