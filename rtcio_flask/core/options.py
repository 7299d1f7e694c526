"""Refusing a setting nobody reads: a misspelled option must fail at start-up
with the closest right name, not start a server that refuses browsers later
(``RTCIO(app, cros="*")`` used to start and serve only its own origin).

Pure: the callers hand in the names they know (RTCIO's own options, the
keys of ``rooms={...}``, ``limits={...}``, ``turn={...}``, the ``RTCIO_*``
keys of ``app.config``), so every refusal reads the same: what was
unknown, where it was written, the closest known name, and the rest.
"""

import difflib
from typing import Dict, Iterable, List, Mapping, Optional


class UnknownOptionError(TypeError, ValueError):
    """An option or key RTCIO does not know. A TypeError, as Python raises
    for an unexpected keyword argument; also a ValueError, which the
    dict-form checks raised before, so existing ``except ValueError``
    handlers still catch it."""


def closest(name: str, known: Iterable[str]) -> Optional[str]:
    """The known name ``name`` was most likely meant to be, or None when
    none is close (difflib's ratio of at least 0.6, its default; case
    is ignored so ``RTCIO_Cors`` finds ``RTCIO_CORS``)."""
    by_lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return by_lower[match[0]] if match else None


def unknown_message(unknown: Iterable[str], known: Iterable[str],
                    where: str, what: str = "option") -> str:
    """``<where>: unknown <what> 'cros' (did you mean 'cors'?); the known
    <what>s are: ...`` for one or several unknown names."""
    names = sorted(unknown)
    known_list = sorted(set(known))
    parts: List[str] = []
    for name in names:
        guess = closest(name, known_list)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        parts.append(f"{name!r}{hint}")
    plural = "s" if len(names) > 1 else ""
    return (f"{where}: unknown {what}{plural} {', '.join(parts)}; the known "
            f"{what}s are: {', '.join(known_list)}.")


def check_known(given: Iterable[str], known: Iterable[str], where: str,
                what: str = "option") -> None:
    """Raise :class:`UnknownOptionError` when ``given`` holds a name that
    is not in ``known``."""
    known_set = set(known)
    unknown = [name for name in given if name not in known_set]
    if unknown:
        raise UnknownOptionError(unknown_message(unknown, known_set, where,
                                                 what))


def unknown_config_keys(config_keys: Iterable[str], known: Iterable[str],
                        prefix: str = "RTCIO_") -> List[str]:
    """The keys of an app's config that carry RTCIO's prefix but that no
    setting reads (the prefix is RTCIO's: a key under it that nothing
    reads is a typo, such as ``RTCIO_CROS``)."""
    known_set = set(known)
    return sorted(key for key in config_keys
                  if isinstance(key, str) and key.startswith(prefix)
                  and key not in known_set)


#: ``RTCIO_*`` environment variables that are not settings but belong to
#: this project's own tooling (scripts/test.sh, noxfile.py, tests/,
#: bench/), by what follows ``RTCIO_``: never warned about.
TOOLING_ENV_PREFIXES = ("TEST_", "COVERAGE", "COMPAT_", "SOAK", "FUZZ_",
                        "BENCH_", "UPDATE_SCREENSHOTS")


def unknown_env_warnings(env_names: Iterable[str], known: Iterable[str],
                         prefix: str = "RTCIO_") -> Dict[str, str]:
    """Each ``RTCIO_*`` environment variable no setting reads
    (``RTCIO_MESAGE_QUEUE``), mapped to a warning naming the closest
    known one.

    A warning, not an error as for ``app.config``: the environment is
    shared with other programs and outlives one deployment, so refusing to
    start on it would be harsher than the typo; but its only symptom would
    otherwise come much later (a single process where there should be a
    fleet, a refused browser)."""
    known_list = sorted(set(known))
    warnings: Dict[str, str] = {}
    for name in unknown_config_keys(env_names, known_list, prefix):
        if name[len(prefix):].startswith(TOOLING_ENV_PREFIXES):
            continue
        # Compared without the shared prefix, which would otherwise make
        # any RTCIO_* name look close to some setting (RTCIO_FOO to
        # RTCIO_ROOMS).
        guess = closest(name[len(prefix):],
                        [k[len(prefix):] for k in known_list
                         if k.startswith(prefix)])
        hint = (f"did you mean {prefix}{guess}?" if guess else
                "see docs/own-app.rst, Misspelled options")
        warnings[name] = (f"environment variable {name} is not a setting "
                          f"RTCIO reads, so it is ignored ({hint})")
    return warnings


def config_only_env_warnings(env_names: Iterable[str],
                             config_only: Iterable[str],
                             env_twins: Mapping[str, str]) -> Dict[str, str]:
    """Each environment variable named like an ``app.config`` key that is
    not read from the environment (``RTCIO_CORS``, ``RTCIO_RATE_LIMIT``),
    mapped to a warning saying where to write it instead: a container's
    settings are often all environment variables, and these were ignored
    without a word (the browser refused later, the limits were the
    defaults). ``env_twins`` names the environment's own variable for a
    key when there is one (``RTCIO_CORS``: ``RTCIO_ALLOWED_ORIGINS``)."""
    names = set(env_names)
    warnings: Dict[str, str] = {}
    for key in sorted(set(config_only) & names):
        twin = env_twins.get(key)
        instead = (f"in the environment write {twin}, or set "
                   f"app.config[{key!r}] in the app" if twin else
                   f"set app.config[{key!r}] in the app (or pass the "
                   f"option to RTCIO(...))")
        warnings[key] = (f"environment variable {key} is ignored: RTCIO "
                         f"reads {key} from app.config, not from the "
                         f"environment; {instead}")
    return warnings
