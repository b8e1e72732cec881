"""Which media types each server gets, from what ``GET /`` says and the ``ver`` option."""

from __future__ import annotations

import pytest

from heapster.errors import RuntimeFailure
from heapster_sink_elasticsearch.server import PLAIN, MediaTypes, ServerInfo, negotiate, parse_server_info

ES7 = ServerInfo("elasticsearch", "7.17.24", "Elasticsearch")
ES7_OLD = ServerInfo("elasticsearch", "7.10.2", "")
ES8 = ServerInfo("elasticsearch", "8.15.0", "Elasticsearch")
ES9 = ServerInfo("elasticsearch", "9.1.0", "Elasticsearch")
OS1, OS2, OS3 = (ServerInfo("opensearch", n, "") for n in ("1.3.19", "2.17.1", "3.2.0"))


@pytest.mark.parametrize(("server", "ver", "expected"), [
    (ES7, "5", PLAIN), (ES7_OLD, "", PLAIN), (ES7, "7", PLAIN),
    (ES8, "5", MediaTypes(8)), (ES8, "7", MediaTypes(7)), (ES8, "8", MediaTypes(8)),
    (ES9, "5", MediaTypes(9)), (ES9, "2", MediaTypes(9)), (ES9, "8", MediaTypes(8)), (ES9, "auto", MediaTypes(9)),
    (OS1, "5", PLAIN), (OS2, "", PLAIN), (OS3, "7", PLAIN),
])
def test_negotiated_media_types(server: ServerInfo, ver: str, expected: MediaTypes) -> None:
    assert negotiate(server, ver) == expected


@pytest.mark.parametrize(("server", "ver", "message"), [
    (ES8, "9", "accepts API versions 7 and 8"),
    (ES9, "7", "accepts API versions 8 and 9"),
    (ES7, "8", "accepts API versions 7"),
    (OS2, "9", "use ver=7 or omit ver"),
    (ServerInfo("elasticsearch", "6.8.0", ""), "5", "too old"),
    (ServerInfo("elasticsearch", "9.0.0", ""), "5", "X-Elastic-Product"),
])
def test_impossible_combinations_are_refused(server: ServerInfo, ver: str, message: str) -> None:
    with pytest.raises(RuntimeFailure, match=message):
        negotiate(server, ver)


def test_media_type_strings_and_rewriting() -> None:
    compat = MediaTypes(8)
    assert compat.json() == "application/vnd.elasticsearch+json; compatible-with=8"
    assert compat.ndjson() == "application/vnd.elasticsearch+x-ndjson; compatible-with=8"
    assert compat.rewrite("application/vnd.elasticsearch+x-ndjson; compatible-with=9") == compat.ndjson()
    assert compat.rewrite("application/json") == compat.json()
    assert PLAIN.rewrite("application/vnd.elasticsearch+json; compatible-with=9") == "application/json"
    assert PLAIN.rewrite("text/plain") == "text/plain"


def test_server_info_from_get_root() -> None:
    opensearch = parse_server_info({"version": {"number": "2.17.1", "distribution": "opensearch"}}, {})
    assert opensearch.opensearch and opensearch.major == 2
    elastic = parse_server_info({"version": {"number": "9.1.0"}}, {"X-Elastic-Product": "Elasticsearch"})
    assert not elastic.opensearch and elastic.major == 9 and elastic.product_header == "Elasticsearch"
    with pytest.raises(RuntimeFailure, match=r"no version\.number"):
        parse_server_info({"name": "something else"}, {})
