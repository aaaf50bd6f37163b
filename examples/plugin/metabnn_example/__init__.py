"""An example extension of metabnn: a stream and a strategy of a user's own (docs/extending.md).

* ``rotated-mnist`` — MNIST rotated by a different angle in every task (its parameter
  ``angles``, in degrees: one task per angle), domain- or task-incremental;
* ``l2-anchor`` — fine-tuning with an L2 pull toward the weights left by the previous task,
  :math:`\\lambda \\lVert \\theta - \\theta^{*}\\rVert^2` (Kirkpatrick et al. 2017, the "L2"
  comparator of EWC).
"""

from metabnn_example.l2_anchor import l2_anchor
from metabnn_example.rotated import rotated_mnist

__all__ = ["rotated_mnist", "l2_anchor"]
