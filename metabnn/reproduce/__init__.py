"""Paper reproductions: recipes as data, run through the ordinary machinery, compared with the
papers (``metabnn reproduce``)."""

from metabnn.reproduce.recipe import SCALES, Recipe, load_recipe, recipe_names, resolve
from metabnn.reproduce.run import reproduce

__all__ = ["SCALES", "Recipe", "load_recipe", "recipe_names", "resolve", "reproduce"]
