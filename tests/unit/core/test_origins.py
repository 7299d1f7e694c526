"""The origin policy, form by form, without any server."""

import re

import pytest
from hypothesis import given, settings, strategies as st

from rtcio_flask.core.origins import build_policy, normalize_origin, parse_origins_env

A = "https://a.example.com"
B = "https://b.example.com"

hosts = st.from_regex(r"[a-z][a-z0-9\-]{0,20}(\.[a-z][a-z0-9\-]{0,10}){0,3}",
                      fullmatch=True)
origins = st.builds(lambda scheme, host, port: f"{scheme}://{host}{port}",
                    st.sampled_from(["http", "https"]), hosts,
                    st.one_of(st.just(""), st.integers(1, 65535).map(
                        lambda p: f":{p}")))


def allowed(policy, origin, environ=None):
    return policy.check(origin, environ).allowed


# -- the five forms ---------------------------------------------------------

def test_star_allows_any_origin_and_echoes_it():
    policy = build_policy("*")
    assert allowed(policy, "https://anything.test")
    assert policy.headers("https://x.test") == [
        ("Access-Control-Allow-Origin", "https://x.test"), ("Vary", "Origin")]


def test_one_exact_origin():
    policy = build_policy(A)
    assert allowed(policy, A)
    assert not allowed(policy, B)
    assert not allowed(policy, A + ".evil.net")
    assert not allowed(policy, "http://a.example.com")


def test_list_mixes_strings_and_regexes():
    policy = build_policy([A, re.compile(r"^https://[a-z]+\.c\.test$")])
    assert allowed(policy, A)
    assert allowed(policy, "https://x.c.test")
    assert not allowed(policy, "https://x.c.test.evil")
    assert not allowed(policy, B)


def test_callable_gets_origin_or_origin_and_environ():
    seen = []
    one = build_policy(lambda origin: origin.endswith(".a.test"))
    assert allowed(one, "https://x.a.test")
    assert not allowed(one, "https://x.b.test")

    def two(origin, environ):
        seen.append(environ["HTTP_HOST"])
        return environ["HTTP_HOST"] == "ok.test"
    policy = build_policy(two)
    assert allowed(policy, B, {"HTTP_HOST": "ok.test"})
    assert not allowed(policy, B, {"HTTP_HOST": "nope.test"})
    assert seen == ["ok.test", "nope.test"]


def test_callable_that_raises_refuses_with_reason():
    def broken(origin):
        raise KeyError("boom")
    decision = build_policy(broken).check(A)
    assert not decision.allowed
    assert "raised" in decision.reason


def test_regex_matches_like_javascript_test():
    # Unanchored: search semantics, exactly the trap JavaScript users know.
    loose = build_policy(re.compile(r"a\.example\.com"))
    assert allowed(loose, "https://a.example.com.evil.net")
    anchored = build_policy(re.compile(r"^https://a\.example\.com$"))
    assert allowed(anchored, A)
    assert not allowed(anchored, "https://a.example.com.evil.net")
    # Node docs' subdomain pattern
    sub = build_policy(re.compile(r"^https://.*\.example\.com$"))
    assert allowed(sub, "https://deep.sub.example.com")
    assert not allowed(sub, "https://example.com")


def test_dict_form_carries_credentials():
    policy = build_policy({"origin": [A], "credentials": True})
    assert policy.credentials
    assert ("Access-Control-Allow-Credentials", "true") in policy.headers(A)
    assert "Access-Control-Allow-Credentials" not in dict(
        build_policy({"origin": [A]}).headers(A))


def test_off_and_default():
    off = build_policy(False)
    assert not off.enabled and allowed(off, "https://whatever.test")
    assert off.headers(A) == []
    default = build_policy(None)
    env = {"HTTP_HOST": "srv.test:8000", "wsgi.url_scheme": "http"}
    assert allowed(default, "http://srv.test:8000", env)
    assert not allowed(default, A, env)
    proxied = dict(env, HTTP_X_FORWARDED_PROTO="https",
                   HTTP_X_FORWARDED_HOST="public.test")
    assert allowed(default, "https://public.test", proxied)


def test_missing_origin_is_not_a_cors_request():
    assert allowed(build_policy(A), None)


def test_preflight_headers_echo_only_token_lists():
    policy = build_policy(A)
    ok = dict(policy.preflight_headers(A, "content-type, x-custom"))
    assert ok["Access-Control-Allow-Headers"] == "content-type, x-custom"
    assert ok["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    bad = dict(policy.preflight_headers(A, "x\r\nSet-Cookie: a=b"))
    assert "Access-Control-Allow-Headers" not in bad


# -- configuration errors ----------------------------------------------------

@pytest.mark.parametrize("value, words", [
    ({"origin": "*", "credentials": True}, "List the origins instead"),
    ("", "empty"),
    ("https://a.com/", "write 'https://a.com'"),
    ("https://a.com/path", "write 'https://a.com'"),
    ("a.com", "missing scheme"),
    ([], "empty origin list"),
    (["*", A], "cors='*' on its own"),
    ([A, 42], "list items must be"),
    (42, "not an accepted origin form"),
    (True, "write '*'"),
    ({"credentials": True}, "needs an 'origin' key"),
    ({"origin": A, "methods": ["GET"]}, "remove 'methods'"),
    ({"origin": A, "credentials": "yes"}, "True or False"),
    ("https://a.com:99999", "out of range"),
    (re.compile(rb"^x$"), "from a str"),
    (lambda: True, "must take the origin"),
])
def test_misconfiguration_fails_with_what_to_write(value, words):
    with pytest.raises(ValueError) as err:
        build_policy(value)
    assert words in str(err.value)


def test_star_with_separate_credentials_argument_is_refused():
    with pytest.raises(ValueError, match="credentials"):
        build_policy("*", credentials=True)


def test_env_parsing():
    assert parse_origins_env(None) is None
    assert parse_origins_env(" , ") is None
    assert parse_origins_env("*") == "*"
    assert parse_origins_env(f"{A}, {B},") == [A, B]


# -- properties over open-ended input ----------------------------------------

@given(st.lists(origins, min_size=1, max_size=5), origins)
@settings(max_examples=300, deadline=None)
def test_exact_list_allows_exactly_its_members(configured, candidate):
    policy = build_policy(configured)
    expected = candidate.lower() in {o.lower() for o in configured}
    assert allowed(policy, candidate) is expected


@given(origins)
def test_normalize_accepts_every_browser_origin(origin):
    assert normalize_origin(origin) == origin.lower()


@given(st.text(max_size=60))
@settings(max_examples=500)
def test_normalize_either_accepts_or_explains(text):
    try:
        result = normalize_origin(text)
    except ValueError as exc:
        assert "RTCIO cors" in str(exc)
    else:
        assert result == text.strip().lower()


@given(st.text(max_size=80))
@settings(max_examples=300)
def test_check_never_raises_on_hostile_origins(origin):
    for policy in (build_policy(A), build_policy("*"),
                   build_policy([A, re.compile(r"^https://x")]),
                   build_policy(None), build_policy(lambda o: len(o) > 3)):
        decision = policy.check(origin, {"HTTP_HOST": "h"})
        assert decision.allowed in (True, False)
