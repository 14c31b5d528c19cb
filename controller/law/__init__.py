"""The control law: pure decision code shared by the twin and the in-cluster runtime.

Imports only `regions`, the standard library and numpy.
"""
