"""Reading resource properties the way a policy must during `pulumi preview`.

The engine hands a policy pack its inputs wrapped so that reading a value that is unknown
until the resource exists (a new key's ARN, a certificate's validation name) raises
`UnknownValueError`; the pack then skips the whole policy with only an advisory "can't run
during preview" (pulumi_policy.policy). A residency policy must not be skipped because it
touched an ARN it does not need, so policies read through `value`.
"""
from __future__ import annotations

from typing import Any, Mapping

from pulumi_policy.proxy import UnknownValueError

UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "<unknown until created>"})()


def value(props: Mapping[str, Any] | None, key: str, default: Any = None) -> Any:
    """`props.get(key, default)`, but a value unknown during preview reads as `UNKNOWN`:
    enough to tell that it is set (e.g. a KMS key ARN), never what it is."""
    if not props:
        return default
    try:
        return props.get(key, default)
    except UnknownValueError:
        return UNKNOWN


def items(seq: Any) -> list[Any]:
    """The elements of a list property, with `UNKNOWN` for each one unknown during preview."""
    if seq is UNKNOWN:
        return [UNKNOWN]
    out = []
    for i in range(len(seq or ())):
        try:
            out.append(seq[i])
        except UnknownValueError:
            out.append(UNKNOWN)
    return out
