import json

from onnx_package.outputs import output_values, write_outputs
from onnx_package.registry.refs import Pushed, parse_repository

SPEC = {"name": "wine", "version": "3", "sha256": "ab" * 32}


def pushed(repo, tag, digest):
    return Pushed(parse_repository(repo), tag, digest)


def test_digest_only_when_every_registry_agrees():
    same = [pushed("127.0.0.1:5001/a", "v1", "sha256:1"), pushed("127.0.0.1:5002/a", "v1", "sha256:1")]
    values = output_values(same, "sha256:img", SPEC)
    assert values["digest"] == "sha256:1"
    assert json.loads(values["digests"]) == {"127.0.0.1:5001/a:v1": "sha256:1", "127.0.0.1:5002/a:v1": "sha256:1"}
    assert values["images"].splitlines() == ["127.0.0.1:5001/a@sha256:1", "127.0.0.1:5002/a@sha256:1"]
    differ = [same[0], pushed("127.0.0.1:5002/a", "v1", "sha256:2")]
    assert output_values(differ, "sha256:img", SPEC)["digest"] == ""


def test_github_output_is_multiline_safe(tmp_path):
    target = tmp_path / "out"
    write_outputs({"images": "a@1\nb@2", "digest": "sha256:1"}, {"GITHUB_OUTPUT": str(target)})
    text = target.read_text()
    name, _, rest = text.partition("<<")
    delimiter, _, rest = rest.partition("\n")
    assert name == "images" and rest.startswith("a@1\nb@2\n" + delimiter + "\n")
    assert "digest<<" in text


def test_without_github_output_values_go_to_stdout(capsys):
    write_outputs({"digest": "sha256:1"}, {})
    assert capsys.readouterr().out == "digest=sha256:1\n"
