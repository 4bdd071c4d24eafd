"""Names protoc would reject twice, found and resolved deterministically.

QAPI's own clash rules do not prevent every proto clash (qapi-to-proto.md, "Names"): ``UUID``
and ``uuid`` are different QAPI members but the same field name; ``foo2``
and ``foo-2`` differ as fields but share protoc's default JSON name; a QAPI
value ``unspecified`` lands on the synthetic zero value; a type called
``FooRequest`` meets the request message of command ``foo``.

A :class:`Namespace` is one proto scope.  Every name taken in it registers
one or more *conflict keys* (the name itself, its default JSON name, ...);
a name is free when none of its keys is taken.  :func:`resolve` hands out
names in a fixed order: first every element the lock file already knows
gets exactly the name it had (so an edit never renames an existing
element), then new elements get their first free candidate in declaration
order.  The chosen names are written back to the lock by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from qapi_jobs.codegen.backends import BackendError
from qapi_jobs.codegen.model import SourceInfo

ConflictKey = tuple[str, str]
KeyFunction = Callable[[str], tuple[ConflictKey, ...]]

# How many numbered variants of the last candidate are tried.
_NUMBERED_LIMIT = 100


def symbol_keys(name: str) -> tuple[ConflictKey, ...]:
    """The only conflict key of a plain symbol: its name."""
    return (("symbol", name),)


@dataclass(frozen=True)
class Claim:
    """A request for a name in a namespace.

    ``owner`` says what the name is for (used in error messages);
    ``candidates`` are tried in order; with ``numbered`` the last candidate
    is then tried with ``2``, ``3`` ... appended (separated by ``sep``).
    ``locked`` is the name the lock file recorded: if set, exactly that
    name is taken or resolution fails.
    """

    owner: str
    candidates: Sequence[str]
    locked: str = ""
    numbered: bool = True
    sep: str = ""
    keys: KeyFunction = symbol_keys
    info: SourceInfo | None = None

    def names(self) -> Iterator[str]:
        """Every name this claim would accept, best first."""
        yield from self.candidates
        if self.numbered:
            last = self.candidates[-1]
            for n in range(2, _NUMBERED_LIMIT):
                yield f"{last}{self.sep}{n}"


@dataclass
class Namespace:
    """One proto scope: a package, a service, a message's fields."""

    scope: str
    _taken: dict[ConflictKey, str] = field(default_factory=dict)

    def owner_of(self, keys: tuple[ConflictKey, ...], asking: str = "") -> str | None:
        """Who other than ``asking`` holds one of ``keys``, if anyone."""
        for key in keys:
            holder = self._taken.get(key)
            if holder is not None and holder != asking:
                return holder
        return None

    def reserve(self, owner: str, keys: tuple[ConflictKey, ...]) -> None:
        """Take ``keys`` for ``owner`` before any name is chosen (e.g. a
        field's fixed JSON name, which no other field's name may equal)."""
        holder = self.owner_of(keys, owner)
        if holder is not None:
            raise BackendError(f"{self.scope}: {owner} clashes with {holder}")
        for key in keys:
            self._taken[key] = owner

    def take(self, claim: Claim, name: str) -> None:
        """Take ``name`` for ``claim``; it must be free."""
        for key in claim.keys(name):
            self._taken[key] = claim.owner

    def claim_locked(self, claim: Claim) -> str:
        """Take the name the lock recorded, or fail: renaming it would break users."""
        holder = self.owner_of(claim.keys(claim.locked), claim.owner)
        if holder is not None:
            raise BackendError(
                f"{self.scope}: {claim.owner} is named {claim.locked!r} in the lock file, "
                f"but {holder} needs the same name; rename one of them in the lock file "
                "(the 'name' of its entry) and regenerate",
                claim.info,
            )
        self.take(claim, claim.locked)
        return claim.locked

    def claim_new(self, claim: Claim) -> str:
        """Take the first free candidate."""
        for name in claim.names():
            if self.owner_of(claim.keys(name), claim.owner) is None:
                self.take(claim, name)
                return name
        holder = self.owner_of(claim.keys(claim.candidates[0]), claim.owner)
        raise BackendError(
            f"{self.scope}: no usable proto name for {claim.owner}: "
            f"{', '.join(repr(c) for c in claim.candidates)} clash with {holder}",
            claim.info,
        )


def resolve(namespace: Namespace, claims: Sequence[Claim]) -> list[str]:
    """Names for ``claims`` (same order): locked ones first, then new ones in order."""
    chosen: dict[int, str] = {}
    for i, claim in enumerate(claims):
        if claim.locked:
            chosen[i] = namespace.claim_locked(claim)
    for i, claim in enumerate(claims):
        if not claim.locked:
            chosen[i] = namespace.claim_new(claim)
    return [chosen[i] for i in range(len(claims))]
