"""Hardware backends: binary weights in simulated memories, and their energy (see issue 6).

Nothing is registered yet; this package exists so the import direction is fixed from the start.
"""

__all__: list[str] = []
