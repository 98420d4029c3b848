from onnx_package.model.smoke import finite, is_text, same_answer


def test_same_answer_compares_floats_within_tolerance_and_the_rest_exactly():
    assert same_answer({"positive": True}, {"positive": True})
    assert not same_answer({"positive": False}, {"positive": True})
    assert not same_answer(1, True)
    assert same_answer([0.1234567, 2.0], [0.1234568, 2.0])
    assert not same_answer([0.12, 2.0], [0.13, 2.0])
    assert not same_answer([1, 2], [1, 2, 3])
    assert not same_answer({"a": 1}, {"a": 1, "b": 2})
    assert same_answer({"label": "positive", "scores": [0.2, 0.8]}, {"label": "positive", "scores": [0.2, 0.8]})


def test_finite_walks_json():
    assert finite({"a": [1.0, 2.0]}) and not finite({"a": [1.0, float("nan")]})


def test_is_text():
    assert is_text(["Containers are good"]) and is_text({"inputs": ["a", "b"]})
    assert not is_text({"data": [[1.0]]}) and not is_text([])
