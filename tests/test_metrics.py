import math

import pytest

from metabnn.metrics import average_accuracy, backward_transfer, forgetting, summarize

# After exp 0: task0 .90; after exp 1: task0 .80, task1 .95; after exp 2: .70 .85 .97
R = [
    [0.90, 0.10, 0.10],
    [0.80, 0.95, 0.10],
    [0.70, 0.85, 0.97],
]


def test_average_accuracy():
    assert math.isclose(average_accuracy(R), (0.70 + 0.85 + 0.97) / 3)


def test_backward_transfer():
    assert math.isclose(backward_transfer(R), ((0.70 - 0.90) + (0.85 - 0.95)) / 2)


def test_forgetting_uses_best_earlier_accuracy():
    # task 0: max(.90, .80) - .70 = .20; task 1: max(.10, .95) - .85 = .10
    assert math.isclose(forgetting(R), (0.20 + 0.10) / 2)


def test_single_task_conventions_and_summary():
    assert backward_transfer([[0.5]]) == 0.0 and forgetting([[0.5]]) == 0.0
    assert "Chaudhry" in summarize(R)["forgetting_definition"]


def test_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        average_accuracy([[0.1, 0.2]])
