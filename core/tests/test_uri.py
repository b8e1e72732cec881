"""URI parsing and option typing, as Heapster's flags.go did it."""

from __future__ import annotations

import pytest

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.uri import (
    expand_env,
    http_url,
    mask_uri,
    parse_header,
    parse_uri,
    resolve_options,
    resolve_sink_options,
)


def test_key_and_url_split_on_first_colon() -> None:
    uri = parse_uri("kubernetes:https://kubernetes.default")
    assert uri.key == "kubernetes"
    assert (uri.url.scheme, uri.url.hostname, uri.url.port) == ("https", "kubernetes.default", None)


def test_key_without_url_and_quoted_empty_url() -> None:
    assert parse_uri("log").key == "log"
    assert parse_uri("log").url.netloc == ""
    empty = parse_uri("kubernetes.summary_api:''")
    assert empty.key == "kubernetes.summary_api" and not empty.has_host


def test_repeated_options_and_host_port_values() -> None:
    uri = parse_uri("elasticsearch:?nodes=foo.com:9200&nodes=bar.com:9200&index=hx")
    config = resolve_options(uri, [Option("nodes", OptionKind.LIST), Option("index", default="heapster")], "sink")
    assert config.options == {"nodes": ["foo.com:9200", "bar.com:9200"], "index": "hx"}


def test_env_expansion_like_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFLUX_HOST", "influx.example:8086")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    uri = parse_uri("influxdb:http://$INFLUX_HOST?db=${UNSET_VAR}k8s")
    assert uri.url.netloc == "influx.example:8086"
    assert uri.values("db") == ["k8s"]
    assert expand_env("a$B-${C}", {"B": "1", "C": "2"}) == "a1-2"


@pytest.mark.parametrize(("text", "expected"), [
    # Go 1.8's os.ExpandEnv (Heapster's build) with only A=x and 1=one set (os.Expand, getShellName)
    ("$A", "x"), ("${A}", "x"), ("$A_B-$A", "-x"), ("$A-B", "x-B"), ("é$Aé", "éxé"),
    ("$1", "one"), ("${1}", "one"), ("$$", ""), ("pa$$word", "paword"), ("$*", ""), ("$-x", "x"), ("${-}", ""),
    ("$(A)", "(A)"), ("a$/b", "a/b"), ("%A%", "%A%"),  # a "$" before no name is dropped (kept from Go 1.11)
    ("$", "$"), ("a$", "a$"),  # but not at the end
    ("${}", ""), ("a${}b", "ab"), ("${A", "A"), ("${A:-d}", ""),
])
def test_env_expansion_is_gos_to_the_character(text: str, expected: str) -> None:
    assert expand_env(text, {"A": "x", "1": "one"}) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("t", True), ("T", True), ("TRUE", True), ("true", True), ("True", True),
    ("0", False), ("f", False), ("F", False), ("FALSE", False), ("false", False), ("False", False),
])
def test_bool_options_parse_as_go(raw: str, expected: bool) -> None:
    config = resolve_options(parse_uri(f"x:?secure={raw}"), [Option("secure", OptionKind.BOOL, False)], "sink 'x'")
    assert config["secure"] is expected


def test_defaults_typed_and_first_value_wins() -> None:
    opts = [Option("concurrency", OptionKind.INT, 1), Option("timeout", OptionKind.DURATION, 5.0),
            Option("db", default="k8s")]
    config = resolve_options(parse_uri("x:?concurrency=4&concurrency=9&timeout=1m30s"), opts, "sink 'x'")
    assert config.options == {"concurrency": 4, "timeout": 90.0, "db": "k8s"}


def test_unknown_option_names_it_and_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown option 'dbb' for sink 'influxdb'; valid options: db, user"):
        resolve_options(parse_uri("influxdb:http://h?dbb=x"), [Option("db"), Option("user")], "sink 'influxdb'")


def test_ill_typed_option_names_the_option_and_hides_secrets() -> None:
    with pytest.raises(UsageError, match=r"bad value .maybe. for option .secure."):
        resolve_options(parse_uri("x:?secure=maybe"), [Option("secure", OptionKind.BOOL)], "sink 'x'")
    with pytest.raises(UsageError) as info:
        resolve_options(parse_uri("x:?port=hunter2"), [Option("port", OptionKind.INT, secret=True)], "sink 'x'")
    assert "hunter2" not in str(info.value)


def test_bad_port_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="bad URL"):
        parse_uri("influxdb:http://host:notaport")


def test_mask_uri_hides_passwords_and_secret_options() -> None:
    masked = mask_uri("influxdb:http://root:s3cret@influx:8086?user=root&pw=hunter2&db=k8s")
    assert "s3cret" not in masked and "hunter2" not in masked
    assert "user=root" in masked and "db=k8s" in masked
    assert "esUserSecret=xxxxx" in mask_uri("elasticsearch:?nodes=a&esUserSecret=abc")


def test_header_options_split_at_the_first_colon_or_equals_sign() -> None:
    assert parse_header("X-Scope-OrgID: team-a", "headers", "sink 'x'") == ("X-Scope-OrgID", "team-a")
    assert parse_header("Authorization=Bearer a:b", "headers", "sink 'x'") == ("Authorization", "Bearer a:b")


@pytest.mark.parametrize("raw", ["Bearer s3cr3t", "Bad Name: s3cr3t", ": s3cr3t"])
def test_a_bad_header_names_the_option_but_never_the_value(raw: str) -> None:
    with pytest.raises(UsageError, match="option 'headers' of sink 'x'") as caught:
        parse_header(raw, "headers", "sink 'x'")
    assert "s3cr3t" not in str(caught.value)


def test_http_url_options_name_the_option_and_the_expected_form() -> None:
    assert http_url("https://api.example.com/", "api", "sink 'x'") == "https://api.example.com/"
    with pytest.raises(UsageError, match=r"bad value 'ftp://x' for option 'api' of sink 'x': expected e\.g\. https://a"):
        http_url("ftp://x", "api", "sink 'x'", "https://a")
    with pytest.raises(UsageError, match="expected an http"):
        http_url("api.example.com", "api", "sink 'x'")


def test_ignored_options_take_any_text_are_named_in_uri_order_and_left_out_of_the_valid_ones() -> None:
    """An option declared ``ignored`` (accepted so another program's command line works) is not typed nor
    checked; the config names those given, once each, in URI order."""
    opts = [Option("db"), Option("kubeletPort", OptionKind.INT, ignored=True), Option("kubeletHttps", ignored=True)]
    config = resolve_options(parse_uri("x:?kubeletHttps=maybe&db=k&kubeletPort=abc&kubeletHttps=true"), opts,
                             "source 'x'")
    assert config.ignored == ("kubeletHttps", "kubeletPort")
    assert (config["db"], config["kubeletPort"], config["kubeletHttps"]) == ("k", "abc", "maybe")
    assert resolve_options(parse_uri("x:?db=k"), opts, "source 'x'").ignored == ()
    with pytest.raises(UsageError, match=r"unknown option 'nope' for source 'x'; valid options: db$"):
        resolve_options(parse_uri("x:?kubeletPort=1&nope=1"), opts, "source 'x'")
    sink = resolve_sink_options(parse_uri("x:?kubeletPort=1&queue_size=3"), opts, "sink 'x'")
    assert (sink.ignored, sink.queue) == (("kubeletPort",), {"queue_size": 3})
