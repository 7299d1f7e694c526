"""A misspelled option, dict key or ``RTCIO_*`` config key stops
``RTCIO(app, ...)`` / ``init_app`` with a TypeError naming it and the
closest right name, before anything is built: ``RTCIO(app, cros="*")``
used to start and refuse every other origin later."""

import pytest
from flask import Flask

from rtcio_flask import RTCIO
from tests.flask_client.polling import handshake

A = "https://a.example.com"


def _app(**config):
    app = Flask(__name__)
    app.config.update(config)
    return app


@pytest.mark.parametrize("option, meant", [
    ("cros", "cors"), ("metrcis", "metrics"), ("romos", "rooms"),
    ("cors_credential", "cors_credentials"), ("ping_intervall", "ping_interval"),
])
def test_misspelled_constructor_option_is_a_type_error(option, meant):
    app = _app()
    with pytest.raises(TypeError) as info:
        RTCIO(app, **{option: True})
    message = str(info.value)
    assert message.startswith(f"RTCIO(...): unknown option {option!r} "
                              f"(did you mean {meant!r}?); the known options "
                              f"are: ")
    # The rest is listed: RTCIO's own options and socketio.Server's.
    for name in ("cors", "rooms", "limits", "turn", "message_queue",
                 "ping_timeout"):
        assert f" {name}," in message or f" {name}." in message
    # Nothing was built: the app serves no socket.io and can be set up again.
    assert "rtcio" not in app.extensions
    assert handshake(app.test_client(), A).status_code == 404
    RTCIO(app, cors=A)
    assert handshake(app.test_client(), A).status_code == 200


def test_init_app_names_itself_and_every_unknown_option():
    rtcio = RTCIO()
    with pytest.raises(TypeError, match=r"^init_app\(\.\.\.\): unknown "
                       r"options 'limts' \(did you mean 'limits'\?\), "
                       r"'zzz'; the known"):
        rtcio.init_app(_app(), limts=False, zzz=1)


def test_constructor_typo_is_reported_by_the_constructor():
    # Factory style: RTCIO(...) at import time fails there, not later.
    with pytest.raises(TypeError, match=r"RTCIO\(\.\.\.\): unknown option "
                       r"'romos' \(did you mean 'rooms'\?\)"):
        RTCIO(romos=True)


@pytest.mark.parametrize("option, value, message", [
    ("rooms", {"max_member": 3},
     "RTCIO(rooms=...): unknown key 'max_member' (did you mean "
     "'max_members'?); the known keys are: max_chat_bytes, max_members,"),
    ("limits", {"rat": 5, "burst": 10},
     "RTCIO(limits=...): unknown key 'rat' (did you mean 'rate'?); the "
     "known keys are: burst, disconnect_after,"),
    ("turn", {"secrt": "s", "urls": "turn:turn.example.com:3478"},
     "RTCIO(turn=...): unknown key 'secrt' (did you mean 'secret'?); the "
     "known keys are: secret, stun_urls, ttl, urls, user_id."),
    ("recovery", {"windw": 5},
     "RTCIO(recovery=...): unknown key 'windw' (did you mean 'window'?)"),
    ("admin", {"username": "ops", "pasword": "s3cret"},
     "RTCIO(admin=...): unknown key 'pasword' (did you mean 'password'?); "
     "the known keys are: auth, login_attempts,"),
    ("cors", {"origin": A, "credential": True},
     "RTCIO(cors=...): unknown key 'credential' (did you mean 'credentials'?); "
     "the known keys are: credentials, max_age, origin."),
])
def test_misspelled_dict_key(option, value, message):
    app = _app()
    with pytest.raises(TypeError) as info:
        RTCIO(app, **{option: value})
    assert str(info.value).startswith(message), info.value
    assert isinstance(info.value, ValueError)  # what these raised before
    assert "rtcio" not in app.extensions


@pytest.mark.parametrize("key, value, message", [
    ("RTCIO_ROOMS", {"max_member": 3},
     "app.config['RTCIO_ROOMS']: unknown key 'max_member' (did you mean "
     "'max_members'?)"),
    ("RTCIO_LIMITS", {"brust": 3},
     "app.config['RTCIO_LIMITS']: unknown key 'brust' (did you mean "
     "'burst'?)"),
    ("RTCIO_TURN", {"secret": "s", "url": "turn:a"},
     "app.config['RTCIO_TURN']: unknown key 'url' (did you mean 'urls'?)"),
])
def test_misspelled_key_in_the_config_dict_forms(key, value, message):
    with pytest.raises(TypeError) as info:
        RTCIO(_app(**{key: value}))
    assert str(info.value).startswith(message), info.value


@pytest.mark.parametrize("key, meant", [
    ("RTCIO_CROS", "RTCIO_CORS"),
    ("RTCIO_ROOMS_MAX_MEMBER", "RTCIO_ROOMS_MAX_MEMBERS"),
    ("RTCIO_TURN_SECERT", "RTCIO_TURN_SECRET"),
    ("RTCIO_RATE_LIMTI", "RTCIO_RATE_LIMIT"),
])
def test_misspelled_config_key_fails_at_start(key, meant):
    app = _app(**{key: "x"})
    with pytest.raises(TypeError) as info:
        RTCIO(app)
    assert str(info.value).startswith(
        f"app.config: unknown RTCIO_* key {key!r} (did you mean {meant!r}?); "
        f"the known RTCIO_* keys are: RTCIO_ABUSE_DISCONNECT_AFTER,")


def test_every_documented_config_key_is_accepted():
    """The config forms the docs show all start, and keys without the
    prefix are the app's own business."""
    app = _app(RTCIO_CORS=A, RTCIO_CORS_CREDENTIALS=True,
               RTCIO_ROOMS={"max_members": 3}, RTCIO_ROOMS_MAX_CHAT_BYTES=100,
               RTCIO_RATE_LIMIT=5, RTCIO_RATE_BURST=10,
               RTCIO_TURN_SECRET="s", RTCIO_TURN_URLS="turn:a.example:3478",
               RTCIO_RECOVERY_WINDOW=30, RTCIO_MAX_CONNECTIONS_PER_ADDRESS=9,
               RTCIO_HEALTH_PATH="/healthz", RTCIO_WEBSOCKET="stack",
               RTCIO_GC_FREEZE=False,
               MY_OWN_SETTING=1, RTCIOX=2)
    state = RTCIO(app).state_for(app)
    assert state.rooms.config.max_members == 3
    assert state.turn is not None and state.limits is not None
    turn_app = _app(RTCIO_TURN={"secret": "s", "urls": "turn:b.example:3478"})
    assert list(RTCIO(turn_app).state_for(turn_app).turn.urls) == [
        "turn:b.example:3478"]


def test_socketio_server_options_pass_through():
    app = _app()
    state = RTCIO(app, ping_interval=7, engineio_logger=False,
                  always_connect=True).state_for(app)
    assert state.server.eio.ping_interval == 7
    assert state.server.always_connect is True


def test_environment_variable_names_in_app_config_say_what_to_write():
    with pytest.raises(TypeError) as info:
        RTCIO(_app(RTCIO_ALLOWED_ORIGINS=A))
    assert str(info.value) == (
        "app.config['RTCIO_ALLOWED_ORIGINS']: RTCIO_ALLOWED_ORIGINS is an "
        "environment variable, which app.config does not read; in "
        "app.config write RTCIO_CORS = ['https://app.example.com'].")
    with pytest.raises(TypeError, match=r"RTCIO_ADMIN = \{'username'"):
        RTCIO(_app(RTCIO_ADMIN_USERNAME="admin"))


def test_every_rtcio_key_the_package_names_is_known_or_environment_only():
    """A setting added later whose RTCIO_* key is not registered would be
    refused as a typo: every ``"RTCIO_..."`` string in the package must be
    a known app.config key or a listed environment variable."""
    import ast
    import re
    from pathlib import Path

    import rtcio_flask
    from rtcio_flask.extension import ENV_ONLY, known_config_keys

    allowed = set(known_config_keys()) | set(ENV_ONLY)
    found = {}
    for path in Path(rtcio_flask.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value,
                                                             str) and \
                    re.fullmatch(r"RTCIO_[A-Z0-9_]*[A-Z0-9]", node.value):
                found.setdefault(node.value, str(path))
    assert found, "the scan finds the package's keys"
    assert {k: v for k, v in found.items() if k not in allowed} == {}


@pytest.mark.parametrize("off", [0, "0", "0.0", "off", "OFF", "false", "no",
                                 "none", ""])
def test_every_off_spelling_means_off_for_every_setting(off):
    """A setting whose 0 turns it off (the recovery window, the protection
    caps and timeouts) takes the same spellings of "off" as the others,
    from app.config as from the environment."""
    app = _app(RTCIO_RECOVERY_WINDOW=off,
               RTCIO_MAX_CONNECTIONS_PER_ADDRESS=off,
               RTCIO_HEADER_TIMEOUT=off, RTCIO_TRUSTED_PROXY_HOPS=off)
    state = RTCIO(app).state_for(app)
    assert state.recovery is None
    assert state.protection.max_connections_per_address is None
    assert state.protection.header_timeout is None
    assert state.protection.trusted_proxy_hops == 0


def test_a_word_that_is_not_off_is_still_refused():
    app = _app(RTCIO_RECOVERY_WINDOW="of")
    with pytest.raises(ValueError, match="RTCIO_RECOVERY_WINDOW"):
        RTCIO(app)


@pytest.fixture
def fresh_env_warnings(monkeypatch):
    """The process warns once per name: forget what earlier tests saw."""
    from rtcio_flask import extension
    monkeypatch.setattr(extension, "_WARNED_ENV", set())


@pytest.mark.parametrize("name, meant", [
    ("RTCIO_MESAGE_QUEUE", "RTCIO_MESSAGE_QUEUE"),
    ("RTCIO_STICKY_SESSION", "RTCIO_STICKY_SESSIONS"),
    ("RTCIO_ALLOWED_ORIGIN", "RTCIO_ALLOWED_ORIGINS"),
    ("RTCIO_TRUSTED_PROXY_HOP", "RTCIO_TRUSTED_PROXY_HOPS"),
    ("RTCIO_ADMIN_USER", "RTCIO_ADMIN_USERNAME"),
])
def test_misspelled_environment_variable_is_warned_about(
        name, meant, monkeypatch, caplog, fresh_env_warnings):
    """An environment variable is not refused (the environment is shared
    with other programs), but a misspelled RTCIO_* one is named at
    start-up with the right name, once."""
    monkeypatch.setenv(name, "1")
    with caplog.at_level("WARNING", logger="rtcio_flask"):
        RTCIO(_app())
        RTCIO(_app())
    lines = [r.getMessage() for r in caplog.records if name in
             r.getMessage()]
    assert lines == [f"rtcio: environment variable {name} is not a setting "
                     f"RTCIO reads, so it is ignored (did you mean {meant}?)"]


def test_unrelated_and_known_environment_variables_are_not_warned_about(
        monkeypatch, caplog, fresh_env_warnings):
    for name in ("RTCIO_MESSAGE_QUEUE", "RTCIO_ALLOWED_ORIGINS",
                 "RTCIO_ADMIN_UI_PATH", "RTCIO_TEST_SEED", "RTCIOX",
                 "MY_RTCIO_THING"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("RTCIO_NOT_A_SETTING", "1")
    with caplog.at_level("WARNING", logger="rtcio_flask"):
        RTCIO(_app())
    warned = [r.getMessage() for r in caplog.records
              if "environment variable" in r.getMessage()]
    assert warned == ["rtcio: environment variable RTCIO_NOT_A_SETTING is "
                      "not a setting RTCIO reads, so it is ignored (see "
                      "docs/own-app.rst, Misspelled options)"]


@pytest.mark.parametrize("name, instead", [
    ("RTCIO_CORS", "in the environment write RTCIO_ALLOWED_ORIGINS, or set "
                   "app.config['RTCIO_CORS'] in the app"),
    ("RTCIO_RATE_LIMIT", "set app.config['RTCIO_RATE_LIMIT'] in the app (or "
                         "pass the option to RTCIO(...))"),
    ("RTCIO_ROOMS_RELAY_SCOPE", "set app.config['RTCIO_ROOMS_RELAY_SCOPE']"),
])
def test_config_only_key_in_the_environment_is_warned_about(
        name, instead, monkeypatch, caplog, fresh_env_warnings):
    """A container sets everything as environment variables: RTCIO_CORS
    there was ignored without a word (and the browser refused later)."""
    monkeypatch.setenv(name, "https://a.example.com")
    with caplog.at_level("WARNING", logger="rtcio_flask"):
        RTCIO(_app())
    [line] = [r.getMessage() for r in caplog.records
              if name in r.getMessage()]
    assert line.startswith(
        f"rtcio: environment variable {name} is ignored: RTCIO reads {name} "
        f"from app.config, not from the environment; {instead}"), line


@pytest.mark.parametrize("name, config, options", [
    ("RTCIO_CORS", {"RTCIO_CORS": A}, {}),
    ("RTCIO_CORS", {}, {"cors": A}),
    ("RTCIO_RATE_LIMIT", {}, {"limits": {"rate": 5}}),
    ("RTCIO_TURN_SECRET", {}, {"turn": {"secret": "s",
                                        "urls": "turn:t.example:3478"}}),
    ("RTCIO_ROOMS_MAX_MEMBERS", {}, {"rooms": {"max_members": 3}}),
])
def test_config_only_key_the_app_used_is_not_warned_about(
        name, config, options, monkeypatch, caplog, fresh_env_warnings):
    """An app that reads the variable itself, into its config or into the
    option it sets (``cors=os.environ["RTCIO_CORS"]``), uses it."""
    monkeypatch.setenv(name, "5")
    with caplog.at_level("WARNING", logger="rtcio_flask"):
        RTCIO(_app(**config), **options)
    assert not [r for r in caplog.records if name in r.getMessage()]


def test_every_variable_the_command_reads_counts_as_read():
    """rtcio-flask reads some RTCIO_* variables itself (cli/args.py): they
    must be in the package's list, or the command would warn that its own
    variables are ignored."""
    import ast
    import re
    from pathlib import Path

    import rtcio_flask
    from rtcio_flask.extension import env_keys

    root = Path(rtcio_flask.__file__).parent / "cli"
    read = set()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(
                    node.value, str) and re.fullmatch(r"RTCIO_[A-Z_]+",
                                                      node.value):
                read.add(node.value)
    assert read, "the scan finds the command's variables"
    assert read - set(env_keys()) == set()
