import pytest

from metabnn.registry import Registry, UnknownNameError


def test_register_get_names_and_identity():
    reg = Registry("thing")

    @reg.register("alpha", description="first", scenarios=("task",))
    def alpha():
        """ignored docstring"""

    @reg.register("beta")
    def beta():
        """Second thing.

        More text."""

    assert reg.names() == ["alpha", "beta"]
    assert reg.get("alpha") is alpha and reg.get(alpha) is alpha
    assert reg.entry("alpha").info == {"scenarios": ("task",)}
    assert reg.entry("beta").description == "Second thing."


def test_duplicate_and_unknown_names():
    reg = Registry("thing")
    reg.register("alpha")(object())
    with pytest.raises(ValueError, match="already registered"):
        reg.register("alpha")(object())
    with pytest.raises(UnknownNameError, match="did you mean 'alpha'"):
        reg.get("alpah")
