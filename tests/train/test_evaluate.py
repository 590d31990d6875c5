"""Held-out caption scoring: per-word slots against the canonical caption."""

from __future__ import annotations

from uno_train.evaluate import word_scores


def test_word_scores_compare_each_slot():
    truth = "a red circle left of two blue squares"
    assert word_scores(truth, truth) == {"count": [True, True], "color": [True, True], "shape": [True, True],
                                         "position": [True]}
    got = word_scores(truth, "a red square above three blue squares")
    assert got == {"count": [True, False], "color": [True, True], "shape": [False, True], "position": [False]}


def test_missing_groups_are_wrong_and_relations_only_count_when_the_truth_has_one():
    got = word_scores("a red circle and a green cross and a blue square", "a red circle")
    assert got["shape"] == [True, False, False] and got["position"] == []
