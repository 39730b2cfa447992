"""Seeded draws that events and profile updates both make: random-looking ids and tokens, and the skew by which a
few users and groups make most of the traffic."""

from __future__ import annotations

import random
import string
from typing import TypeVar

_T = TypeVar("_T")


def token(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=n))


def base36(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=n))


def uuid(rng: random.Random) -> str:
    """A version-4-looking UUID drawn from `rng`, not `uuid.uuid4()`: the same seed must give the same ids."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def popular(rng: random.Random, population: list[_T]) -> _T:
    """One of `population`, the first ones far more often: a few users (or groups) make most of the traffic."""
    return population[min(int(rng.expovariate(1 / (len(population) / 3))), len(population) - 1)]
