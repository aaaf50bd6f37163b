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


def test_forgetting_is_negative_when_a_task_improves_later():
    # Chaudhry et al.: the best accuracy *before* the last experience, so a task that improved
    # afterwards has negative forgetting (0.5 before, 0.8 at the end: -0.3)
    assert math.isclose(forgetting([[0.5, 0.0], [0.8, 0.9]]), -0.3)
    assert math.isclose(backward_transfer([[0.5, 0.0], [0.8, 0.9]]), 0.3)


def test_summary_and_other_shapes_have_exactly_their_keys():
    from metabnn.metrics import joint_summary, stream_summary

    assert set(summarize(R)) == {"average_accuracy", "backward_transfer", "forgetting",
                                 "learning_accuracy", "forgetting_definition"}
    assert math.isclose(summarize(R)["learning_accuracy"], (0.90 + 0.95 + 0.97) / 3)
    assert summarize(R)["forgetting"] == forgetting(R)
    assert summarize(R)["backward_transfer"] == backward_transfer(R)
    s = stream_summary([[0.5], [0.9], [0.7]])
    assert s == {"average_accuracy": 0.7, "final_accuracy": 0.7, "best_accuracy": 0.9,
                 "best_chunk": 1}
    j = joint_summary([[0.8, 0.6]])
    assert math.isclose(j["average_accuracy"], 0.7) and j["forgetting"] is None
    assert j["backward_transfer"] is None and "undefined" in j["forgetting_definition"]
    with pytest.raises(ValueError, match="k x 1"):
        stream_summary([[0.5, 0.6]])
    with pytest.raises(ValueError, match="1 x T"):
        joint_summary([[0.5], [0.6]])


def test_one_chunk_and_one_task_are_legal_and_empty_shapes_are_refused():
    """Smallest legal shapes (a 1 x 1 stream, a 1 x 1 joint run) and the empty ones (0 x 1,
    1 x 0), which get the shape error rather than an IndexError."""
    import numpy as np

    from metabnn.metrics import joint_summary, stream_summary

    assert stream_summary([[0.4]])["best_chunk"] == 0
    assert joint_summary([[0.4]])["average_accuracy"] == 0.4
    with pytest.raises(ValueError, match="k x 1"):
        stream_summary(np.zeros((0, 1)))
    with pytest.raises(ValueError):
        joint_summary([[]])
    assert joint_summary([[0.8, 0.6]])["forgetting_definition"] == (
        "undefined: joint training has a single training phase")
