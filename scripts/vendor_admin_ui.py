"""Copy the socket.io Admin UI's built files from node_modules into
rtcio_flask/admin_ui/, so the extension can serve the UI itself (no outside
host): ``python scripts/vendor_admin_ui.py`` after ``npm ci``;
``--check`` exits 1 when the copy in the package differs from what this
script would write (scripts/test.sh runs the copy, a test runs the check).

The copy is committed, so ``pip install`` from git has it without npm.
What it changes on the way, and why:

- the UI's index.html loads Roboto and the Material Design Icons font from
  two CDNs; both links are dropped (the page falls back to the system's
  sans-serif) and the icons come from the ``@mdi/font`` package instead,
  trimmed to the icons the UI names (the whole stylesheet is 340 KB for
  7,000 icons; the UI uses about 40) and to the woff2 font only;
- a ``<script src="rtcio-admin-config.js">`` goes before the UI's own
  scripts: the extension answers it with the server URL, socket.io path and
  admin namespace, so the login form is filled in for this server;
- source maps (3.4 MB) are left out, and the ``sourceMappingURL`` comments
  that point at them.
"""

import argparse
import pathlib
import re
import shutil
import sys
import tempfile
from typing import Dict

ROOT = pathlib.Path(__file__).resolve().parent.parent
UI = ROOT / "node_modules" / "@socket.io" / "admin-ui"
MDI = ROOT / "node_modules" / "@mdi" / "font"
TARGET = ROOT / "rtcio_flask" / "admin_ui"

#: The file the extension serves with this server's settings.
CONFIG_SCRIPT = "rtcio-admin-config.js"

_CDN_LINK = re.compile(r'<link rel="stylesheet" href="https://[^"]+">')
_SOURCE_MAP = re.compile(r"\n?//# sourceMappingURL=\S+\s*$")
_ICON_RULE = re.compile(r'\.(mdi-[a-z0-9-]+)::before\{content:"[^"]+"\}')
_ICON_NAME = re.compile(r"mdi-[a-z0-9-]+")
_FONT_SRC = re.compile(r'src:url\([^;]*;src:[^;]*;')


def _version(package: pathlib.Path) -> str:
    import json
    return json.loads((package / "package.json").read_text())["version"]


def build() -> Dict[str, bytes]:
    """The vendored files, by path relative to rtcio_flask/admin_ui/."""
    if not (UI / "ui" / "dist" / "index.html").exists() or not MDI.exists():
        sys.exit("node_modules has no @socket.io/admin-ui or @mdi/font: run "
                 "`npm ci` in the repository first")
    dist = UI / "ui" / "dist"
    files: Dict[str, bytes] = {}
    used = set()
    for path in sorted(dist.rglob("*")):
        rel = path.relative_to(dist).as_posix()
        if path.is_dir() or rel.endswith(".map"):
            continue
        data = path.read_bytes()
        if rel.endswith((".js", ".css")):
            text = _SOURCE_MAP.sub("", data.decode("utf-8"))
            used.update(_ICON_NAME.findall(text))
            data = text.encode("utf-8")
        files[rel] = data
    index = files["index.html"].decode("utf-8")
    index = _CDN_LINK.sub("", index)
    index = index.replace(
        "</head>",
        '<link rel="stylesheet" href="mdi/materialdesignicons.css">'
        f'<script src="{CONFIG_SCRIPT}"></script></head>')
    files["index.html"] = index.encode("utf-8")

    css = (MDI / "css" / "materialdesignicons.min.css").read_text("utf-8")
    css = _SOURCE_MAP.sub("", css)
    css = _ICON_RULE.sub(
        lambda m: m.group(0) if m.group(1) in used else "", css)
    css = _FONT_SRC.sub(
        'src:url("materialdesignicons-webfont.woff2") format("woff2");', css)
    files["mdi/materialdesignicons.css"] = css.encode("utf-8")
    files["mdi/materialdesignicons-webfont.woff2"] = (
        MDI / "fonts" / "materialdesignicons-webfont.woff2").read_bytes()
    files["mdi/LICENSE"] = (MDI / "LICENSE").read_bytes()
    files["LICENSE"] = (UI / "LICENSE").read_bytes()
    files["VERSION"] = (
        f"@socket.io/admin-ui {_version(UI)} (ui/dist)\n"
        f"@mdi/font {_version(MDI)} (trimmed; written by "
        f"scripts/vendor_admin_ui.py)\n").encode("utf-8")
    return files


def differences(files: Dict[str, bytes]) -> list:
    """Paths that differ between ``files`` and what TARGET holds."""
    present = {p.relative_to(TARGET).as_posix()
               for p in TARGET.rglob("*") if p.is_file()} \
        if TARGET.exists() else set()
    changed = [rel for rel, data in files.items()
               if rel not in present or (TARGET / rel).read_bytes() != data]
    return sorted(changed + sorted(present - set(files)))


def write(files: Dict[str, bytes]) -> None:
    staging = pathlib.Path(tempfile.mkdtemp(dir=TARGET.parent))
    staging.chmod(0o755)
    for rel, data in files.items():
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        (staging / rel).write_bytes(data)
    if TARGET.exists():
        shutil.rmtree(TARGET)
    staging.rename(TARGET)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 when the copy is stale")
    args = parser.parse_args()
    files = build()
    changed = differences(files)
    if args.check:
        if changed:
            print("rtcio_flask/admin_ui is stale (run python "
                  "scripts/vendor_admin_ui.py): " + ", ".join(changed))
            return 1
        return 0
    if changed:
        write(files)
    print(f"rtcio_flask/admin_ui: {len(files)} files, "
          f"{sum(map(len, files.values())) // 1024} KiB"
          + ("" if changed else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
