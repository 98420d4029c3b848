"""The /predict contract (docs/ARCHITECTURE.md), exactly, and the bad bodies it refuses."""

from __future__ import annotations

import pytest

from onnx_serve.errors import RequestError
from onnx_serve.protocol import parse_predict, predict
from server_models import DIABETES_ROWS, WINE_ROWS

GOOD, BAD = "Containers are good", "Containers are terrible"


def test_the_tutorial_contract(predictor):
    text = predictor("text")
    assert predict(text, ["Containers are good"]) == {"positive": True}
    assert predict(text, [BAD]) == {"positive": False}
    assert predict(text, [GOOD, BAD]) == [{"positive": True}, {"positive": False}]


def test_more_than_two_labels_answer_label_and_score(predictor):
    answer = predict(predictor("text3"), [GOOD])
    assert answer["label"] == "pos" and set(answer) == {"label", "score"} and 0.5 < answer["score"] <= 1


def test_the_inputs_form_gives_label_score_and_scores_per_item(predictor):
    answers = predict(predictor("text"), {"inputs": [GOOD, BAD]})
    assert [a["label"] for a in answers] == ["positive", "negative"]
    first = answers[0]
    assert set(first["scores"]) == {"negative", "positive"} and first["score"] == first["scores"]["positive"]
    assert sum(first["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    assert predict(predictor("text"), {"inputs": [GOOD]}) == answers[:1]  # always a list
    assert predict(predictor("text"), {"data": [GOOD, BAD]}) == answers  # Azure ML's key works too


def test_tabular_answers_one_prediction_per_row(predictor):
    assert predict(predictor("wine"), {"data": WINE_ROWS}) == [0, 0, 0]
    assert predict(predictor("wine-zipmap"), {"data": WINE_ROWS[:1]}) == [0]
    values = predict(predictor("diabetes"), {"data": DIABETES_ROWS})
    assert len(values) == 2 and all(isinstance(v, float) for v in values)
    assert predict(predictor("wine"), {"data": [[int(v) for v in WINE_ROWS[0]]]}) == [0]  # integers are numbers


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("text", {}, "a text model takes"),
        ("text", "Containers are good", "a text model takes"),
        ("text", [1, 2], "must be a list of strings"),
        ("text", [None], "must be a list of strings"),
        ("text", [], "no items"),
        ("text", {"inputs": "one text"}, "must be a list of strings"),
        ("text", {"inputs": []}, "no items"),
        ("wine", [[1.0] * 13], "a tabular model takes"),
        ("wine", {"rows": []}, "a tabular model takes"),
        ("wine", {"data": []}, "must be a matrix"),
        ("wine", {"data": [[]]}, "must be a matrix"),
        ("wine", {"data": WINE_ROWS[0]}, "must be a matrix"),
        ("wine", {"data": [[1.0] * 12]}, r"\[n_rows, 13\]"),
        ("wine", {"data": [[1.0] * 13, [1.0] * 12]}, "rectangular"),
        ("wine", {"data": [["a"] * 13]}, "only numbers"),
        ("wine", {"data": [[None] * 13]}, "only numbers"),
        ("wine", {"data": [[{"x": 1}] * 13]}, "only numbers"),
        ("tensor", {"data": [[1, 2, 3]]}, "/v2/models/raw/infer"),
    ],
)
def test_bad_bodies_are_400_with_what_to_send(predictor, kind, body, message):
    with pytest.raises(RequestError, match=message) as caught:
        predict(predictor(kind), body)
    assert caught.value.status == 400


def test_too_many_items_is_413(predictor):
    with pytest.raises(RequestError, match="ONNX_SERVE_MAX_REQUEST_ITEMS") as caught:
        parse_predict(predictor("text"), [GOOD] * 3, max_items=2)
    assert caught.value.status == 413
    parse_predict(predictor("text"), [GOOD] * 2, max_items=2)
