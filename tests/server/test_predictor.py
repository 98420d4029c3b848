"""Predictor: loading model folders, text / tabular / tensor inference, batching of jobs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnx_serve.predictor import Feeds, Predictor, Rows, Texts, probabilities
from onnx_serve.runtime import cpu_limit, release_free_memory, session_options
from onnx_serve.spec import ModelError
from server_models import DIABETES_ROWS, WINE_ROWS, write_spec

GOOD, BAD = "Containers are good", "Containers are terrible"
LONG = "honestly i think the pipelines and the clusters and the builds are really " * 4 + "good"


def test_text_model_classifies_with_probabilities(predictor):
    text = predictor("text")
    probs = text.classify([GOOD, BAD])
    assert probs.shape == (2, 2) and probs.dtype == np.float32
    assert probs.argmax(axis=1).tolist() == [1, 0]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert text.label_names(2) == ("negative", "positive")


def test_padding_a_batch_does_not_change_the_answers(predictor):
    for kind in ("text", "ids-only"):
        model = predictor(kind)
        together = model.classify([GOOD, LONG, BAD])
        alone = np.concatenate([model.classify([t]) for t in (GOOD, LONG, BAD)])
        np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)


def test_a_model_without_attention_mask_gets_texts_grouped_by_length(predictor):
    groups = predictor("ids-only").encoder.encode([GOOD, LONG, BAD, GOOD])
    assert sorted(rows for rows, _ in groups) == [[0, 2, 3], [1]]
    assert all(set(feeds) == {"input_ids"} for _, feeds in groups)


def test_a_fixed_sequence_length_pads_and_truncates_to_it(predictor):
    fixed = predictor("fixed")
    [(rows, feeds)] = fixed.encoder.encode([GOOD, LONG])
    assert rows == [0, 1] and feeds["input_ids"].shape == (2, 16)
    assert fixed.classify([GOOD, BAD, LONG]).argmax(axis=1).tolist()[:2] == [1, 0]


def test_labels_fall_back_to_label_i(predictor):
    assert predictor("ids-only").label_names(2) == ("LABEL_0", "LABEL_1")
    assert predictor("text").label_names(3) == ("LABEL_0", "LABEL_1", "LABEL_2")


def test_softmax_only_for_logits():
    logits = np.array([[2.0, -1.0, 0.5]], dtype=np.float32)
    probs = probabilities(logits)
    np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(), rtol=1e-6)
    already = np.array([[0.2, 0.8], [0.5, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(probabilities(already), already)


def test_tabular_outputs_are_as_the_model_gives_them(predictor):
    out = predictor("wine").predict_rows(np.array(WINE_ROWS, dtype=np.float32))
    assert list(out) == ["label", "probabilities"]
    assert out["label"].tolist() == [0, 0, 0] and out["probabilities"].shape == (3, 3)
    zipmap = predictor("wine-zipmap").predict_rows(np.array(WINE_ROWS, dtype=np.float32))
    assert isinstance(zipmap["output_probability"], list) and set(zipmap["output_probability"][0]) == {0, 1, 2}
    regression = predictor("diabetes").predict_rows(np.array(DIABETES_ROWS, dtype=np.float32))
    assert regression["variable"].shape == (2, 1)


def test_run_batch_splits_one_run_back_into_per_job_results(predictor):
    text = predictor("text")
    jobs = [Texts([GOOD]), Texts([BAD, GOOD])]
    results = text.run_batch(jobs)
    assert [r.argmax(axis=1).tolist() for r in results] == [[1], [0, 1]]
    wine = predictor("wine")
    x = np.array(WINE_ROWS, dtype=np.float32)
    first, second = wine.run_batch([Rows(x[:1]), Rows(x[1:])])
    assert first["label"].shape == (1,) and second["probabilities"].shape == (2, 3)
    raw = predictor("tensor")
    feeds = [Feeds({"x": np.ones((n, 3), np.float32), "ids": np.ones((n, 4), np.int64)}) for n in (1, 2)]
    assert [r["ids_sum"].tolist() for r in raw.run_batch(feeds)] == [[4], [4, 4]]


def test_batch_keys_keep_incompatible_jobs_apart(predictor):
    raw = predictor("tensor")
    a = Feeds({"x": np.ones((1, 3), np.float32), "ids": np.ones((1, 4), np.int64)})
    b = Feeds({"x": np.ones((2, 3), np.float32), "ids": np.ones((2, 4), np.int64)})
    c = Feeds({"x": np.ones((1, 3), np.float64), "ids": np.ones((1, 4), np.int64)})
    assert raw.batch_key(a) == raw.batch_key(b) != raw.batch_key(c)
    text = predictor("text")
    assert text.batch_key(Texts(["a"])) == text.batch_key(Texts(["b", "c"]))


def test_a_fixed_batch_size_is_served_in_padded_chunks(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=1)], "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "model.onnx"))
    fixed = Predictor.load(write_spec(tmp_path, task="tabular"), threads=1)
    out = fixed.predict_rows(np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.float32))
    assert out["total"].ravel().tolist() == [6, 15, 24]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "serve.json").unlink(), "cannot read"),
        (lambda d: (d / "serve.json").write_text("{"), "cannot read"),
        (lambda d: write_spec(d, task="vision"), "task must be one of"),
        (lambda d: write_spec(d, task="tabular", model_file="missing.onnx"), "does not exist"),
        (lambda d: (d / "model.onnx").write_bytes(b"not onnx"), "onnxruntime cannot load"),
        (lambda d: write_spec(d, task="text-classification"), "takes input_ids"),
    ],
)
def test_a_folder_that_cannot_be_served_says_why(model_dir, tmp_path, change, message):
    folder = tmp_path / "model"
    folder.mkdir()
    for item in model_dir("wine").iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    change(folder)
    with pytest.raises(ModelError, match=message):
        Predictor.load(folder, threads=1)


def test_a_broken_tokenizer_is_a_model_error(model_dir, tmp_path):
    folder = tmp_path / "text"
    folder.mkdir()
    for item in model_dir("text").iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    (folder / "tokenizer.json").write_text(json.dumps({"not": "a tokenizer"}))
    with pytest.raises(ModelError, match="tokenizer"):
        Predictor.load(folder, threads=1)


def test_warm_up_runs_for_every_task(predictor):
    for kind in ("text", "wine", "tensor", "fixed"):
        predictor(kind).warm_up()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "150000 100000"}, 2),
        ({"cpu.max": "50000 100000"}, 1),
        ({"cpu.max": "max 100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 1),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, None),
        ({}, None),
    ],
)
def test_threads_follow_the_cgroup_cpu_quota(tmp_path: Path, files, expected, monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content + "\n")
    assert cpu_limit(tmp_path) == (expected or 4)


def test_threads_spin_within_a_run_and_rest_between_runs():
    options = session_options(2)
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"


def test_many_texts_run_in_chunks(predictor, monkeypatch):
    text = predictor("text")
    expected = text.classify([GOOD, BAD, LONG, GOOD, BAD])
    monkeypatch.setattr(text, "max_text_batch", 2)
    runs = []
    original = text.session.run
    monkeypatch.setattr(
        text, "session", type("Spy", (), {"run": lambda self, n, f: runs.append(1) or original(n, f)})()
    )
    np.testing.assert_allclose(text.classify([GOOD, BAD, LONG, GOOD, BAD]), expected, rtol=1e-4, atol=1e-5)
    assert len(runs) == 3


def test_releasing_free_memory_is_safe_to_call():
    release_free_memory()


def test_the_work_of_a_job_grows_with_its_padded_size():
    assert Texts(["ab", "abcd"]).work == 2 * 5  # two texts padded to the longest (+1: an empty text costs too)
    assert Texts(["", ""]).work == 2
    assert Rows(np.zeros((3, 4), dtype=np.float32)).work == 12
    assert Feeds({"a": np.zeros((2, 3)), "b": np.zeros(2)}).work == 8
