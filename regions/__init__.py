"""The world model: region catalog, jurisdictions, residency rules, topology config.

Imports nothing else of meridian's; every other package asks it about geography and law.
"""
