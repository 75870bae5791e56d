import numpy as np
import pytest

from tinker_explorer.data.answers import best_f1, exact_match, normalize_answer, token_f1
from tinker_explorer.eval.metrics import bootstrap_ci, chunk_precision_recall, paired_bootstrap


@pytest.mark.parametrize("raw,norm", [
    ("The Eiffel Tower!", "eiffel tower"),
    ("  a  Tale of Two Cities ", "tale of two cities"),
    ("Missoula, Montana", "missoula montana"),
    ("AN apple", "apple"),
    ("U.S.A.", "usa"),
])
def test_normalize_answer_squad_cases(raw, norm):
    assert normalize_answer(raw) == norm


def test_f1_em_known_values():
    assert token_f1("Missoula", "Missoula, Montana") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert token_f1("the Missoula, Montana", "Missoula Montana") == 1.0
    assert exact_match("Missoula, Montana.", "missoula montana") == 1.0
    assert exact_match("Missoula", "Missoula, Montana") == 0.0
    assert token_f1("Paris France", "Lyon") == 0.0
    assert token_f1(None, "x") == 0.0 and exact_match(None, "x") == 0.0


def test_yes_no_only_match_themselves():
    assert token_f1("yes", "no") == 0.0
    assert token_f1("no it is not", "no") == 0.0  # official 2Wiki/HotpotQA rule
    assert token_f1("yes", "yes") == 1.0


def test_aliases_take_best():
    assert best_f1("NYC", ["New York City", "NYC"]) == 1.0


def test_bootstrap_ci_contains_mean_and_is_deterministic():
    x = np.random.default_rng(1).random(200)
    lo, hi = bootstrap_ci(x)
    assert lo < x.mean() < hi and hi - lo < 0.2
    assert bootstrap_ci(x) == (lo, hi)


def test_paired_bootstrap_detects_a_consistent_gain():
    a = np.linspace(0, 1, 100)
    res = paired_bootstrap(a + 0.1, a)
    assert res["diff"] == pytest.approx(0.1) and res["ci"][0] > 0 and res["wins"] == 100
    same = paired_bootstrap(a, a)
    assert same["ci"] == [0.0, 0.0] and same["ties"] == 100
    with pytest.raises(ValueError):
        paired_bootstrap([1, 2], [1])


def test_chunk_precision_recall():
    assert chunk_precision_recall([1, 2], [2, 3]) == (0.5, 0.5)
    assert chunk_precision_recall([], [1]) == (0.0, 0.0)
