import json

from eaos_client import eaos_pb2, result_json
from eaos_client.results import prediction_structs


def _result() -> eaos_pb2.ItemResult:
    t = eaos_pb2.Tuple(
        entity="pin",
        aspect="BATTERY",
        opinion="trâu",
        sentiment="positive",
        confidence=0.97,
        entity_span=eaos_pb2.Span(begin=0, end=3),
        opinion_span=eaos_pb2.Span(begin=4, end=8),
    )
    no_entity = eaos_pb2.Tuple(
        aspect="Chung",
        opinion="hay",
        sentiment="tích cực",
        confidence=0.5,
        opinion_span=eaos_pb2.Span(begin=0, end=3),
    )
    return eaos_pb2.ItemResult(id="c1", tuples=[t, no_entity])


def test_json_line_matches_the_cpp_client_shape() -> None:
    line = result_json("c1", "pin trâu", _result())
    assert line.startswith(
        '{"id":"c1","text":"pin trâu","predictions":[{"entity":"pin",'
        '"aspect":"BATTERY","opinion":"trâu","sentiment":"positive",'
        '"confidence":0.97,"entity_span":[0,3],"opinion_span":[4,8]}'
    )
    record = json.loads(line)
    assert record["predictions"][1]["entity_span"] is None
    assert "error" not in record and "truncated" not in record


def test_errors_and_truncation_are_added_only_when_set() -> None:
    failed = eaos_pb2.ItemResult(id="x", error=eaos_pb2.Error(code=3, message="empty"))
    assert json.loads(result_json("x", "", failed))["error"] == {"code": 3, "message": "empty"}
    truncated = eaos_pb2.ItemResult(id="y", truncated=True)
    assert json.loads(result_json("y", "t", truncated))["truncated"] is True


def test_struct_form_uses_begin_end_structs() -> None:
    first, second = prediction_structs(_result())
    assert first["entity_span"] == {"begin": 0, "end": 3}
    assert second["entity_span"] is None and second["opinion_span"] == {"begin": 0, "end": 3}
