"""Kaggle downloads through the official `kaggle` client, silenced and with one-line errors.

Credentials are looked up exactly where kaggle 2.x looks (KAGGLE_API_TOKEN, ~/.kaggle/access_token,
KAGGLE_USERNAME/KAGGLE_KEY, kaggle.json in $KAGGLE_CONFIG_DIR, else ~/.kaggle if it exists, else
~/.config/kaggle on Linux; OAuth credentials.json)
before anything is sent, so a missing token is reported without touching the network.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from cnnzoo.utils.errors import CnnzooError

TOKEN_PAGE = "https://www.kaggle.com/settings/api"


def token_help() -> str:
    """How to give cnnzoo a token, naming the folder this kaggle client reads kaggle.json from."""
    return (
        f"Create an API token at {TOKEN_PAGE} and save it as ~/.kaggle/access_token or export "
        f"KAGGLE_API_TOKEN; a legacy kaggle.json goes in {_tilde(kaggle_config_dir())}/."
    )


def _tilde(path: Path) -> str:
    """`path` with the home folder written as ~, as users type it."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def dataset_url(ref: str) -> str:
    """The dataset's page on kaggle.com, where the zip can also be downloaded by hand."""
    return f"https://www.kaggle.com/datasets/{ref}"


def kaggle_config_dir() -> Path:
    """Where kaggle reads kaggle.json: $KAGGLE_CONFIG_DIR, else ~/.kaggle, else ~/.config/kaggle."""
    configured = os.environ.get("KAGGLE_CONFIG_DIR")
    if configured:
        return Path(configured).expanduser()
    legacy = Path.home() / ".kaggle"
    if legacy.exists() or not sys.platform.startswith("linux"):
        return legacy
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kaggle"


def _read_kaggle_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError) as error:
        raise CnnzooError(
            f'{path} is not a readable JSON file with "username" and "key": {error}. '
            + token_help()
        ) from None
    return values if isinstance(values, dict) else {}


def find_credentials() -> str:
    """Say where the Kaggle credentials come from, or raise the how-to-get-a-token error."""
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    for name in ("access_token", "access_token.txt"):
        token_file = Path.home() / ".kaggle" / name
        if token_file.is_file() and token_file.read_text(encoding="utf-8").strip():
            return str(token_file)
    config = kaggle_config_dir() / "kaggle.json"
    stored = _read_kaggle_json(config)
    # kaggle lets KAGGLE_USERNAME / KAGGLE_KEY override the file's values one by one.
    username = os.environ.get("KAGGLE_USERNAME") or stored.get("username")
    key = os.environ.get("KAGGLE_KEY") or stored.get("key")
    if username and key:
        from_env = "KAGGLE_USERNAME" in os.environ and "KAGGLE_KEY" in os.environ
        return "KAGGLE_USERNAME/KAGGLE_KEY" if from_env else str(config)
    if stored:
        missing = " and ".join(name for name in ("username", "key") if not stored.get(name))
        raise CnnzooError(f"{config} has no {missing}. " + token_help())
    oauth = Path.home() / ".kaggle" / "credentials.json"
    if oauth.is_file() and _read_kaggle_json(oauth).get("refresh_token"):
        return f"{oauth} (kaggle auth login)"
    raise CnnzooError("No Kaggle credentials found. " + token_help())


class _Progress(io.TextIOBase):
    """kaggle's prints passed on to `stream`, minus its `Dataset URL:`/licence lines and blanks."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.pending = stream, ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            if line.strip() and not line.startswith(("Dataset URL:", "License(s):")):
                self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


@contextlib.contextmanager
def _captured(progress_to: TextIO | None = None) -> Iterator[None]:
    """Keep kaggle's prints off our stdout: into `progress_to` if given, else discarded."""
    if progress_to is not None:
        with contextlib.redirect_stdout(_Progress(progress_to)):
            yield
        return
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def _short_reason(error: BaseException) -> str:
    text = str(error)
    match = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    return match.group(0).strip() if match else (text or type(error).__name__)


def _explain(error: Exception, ref: str, source: str, endpoint: str) -> CnnzooError:
    """Turn a kaggle/requests exception into one actionable line."""
    import requests

    by_hand = (
        f"Or download the zip from {dataset_url(ref)} on a machine with access and set data.path "
        "to it (or to its extracted folder)."
    )
    if isinstance(error, requests.HTTPError):
        status = error.response.status_code if error.response is not None else None
        if status == 401:
            return CnnzooError(
                f"Kaggle refused the credentials from {source} (HTTP 401 Unauthorized). "
                + token_help()
            )
        if status == 403:
            return CnnzooError(
                f"Kaggle refused access to {ref} with the credentials from {source} (HTTP 403 "
                "Forbidden): the token may be expired or revoked, or the account may have to "
                f"accept the dataset's terms at {dataset_url(ref)}. " + token_help()
            )
        if status == 404:
            return CnnzooError(
                f'Kaggle has no dataset "{ref}" (HTTP 404 Not Found). '
                f"Check that {dataset_url(ref)} exists."
            )
        return CnnzooError(f"Kaggle answered HTTP {status} for {ref}: {error}. {by_hand}")
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        return CnnzooError(
            f"Cannot reach Kaggle at {endpoint}: {_short_reason(error)}. Check the network "
            f"connection (and HTTPS_PROXY if you need one). {by_hand}"
        )
    if isinstance(error, ValueError) and "size" in str(error):
        return CnnzooError(f"The download of {ref} from Kaggle was cut short: {error}. {by_hand}")
    if isinstance(error, OSError):
        return CnnzooError(f"Cannot write the Kaggle download: {error}.")
    return CnnzooError(f"The kaggle client failed for {ref}: {type(error).__name__}: {error}")


def _client() -> Any:
    """A fresh KaggleApi that reads the current environment, imported without side effects."""
    try:
        # Importing `kaggle` authenticates at once and prints (or calls exit) when it cannot.
        with _captured():
            from kaggle.api.kaggle_api_extended import KaggleApi
    except OSError as error:  # it creates its config folder on import
        raise CnnzooError(
            f"Cannot load the kaggle client: {error}. It needs a writable config folder; set "
            "KAGGLE_CONFIG_DIR to one (e.g. the folder holding kaggle.json)."
        ) from None
    except (Exception, SystemExit) as error:
        raise CnnzooError(f"Cannot load the kaggle client: {error}") from None
    api = KaggleApi()
    # kaggle reads these once, when first imported; read them again for this call.
    api.config_dir = str(kaggle_config_dir())
    api.config = os.path.join(api.config_dir, api.config_file)
    local = os.environ.get("KAGGLE_API_ENVIRONMENT") == "LOCALHOST"
    api.args = ["--local"] if local else []
    return api


def _endpoint(api: Any) -> str:
    from kagglesdk.kaggle_env import KaggleEnv, get_endpoint

    return get_endpoint(KaggleEnv.LOCAL if "--local" in api.args else KaggleEnv.PROD)


def download_dataset_zip(ref: str, folder: Path, progress: bool = True) -> Path:
    """Download Kaggle dataset `ref` ("owner/slug") as `folder/<slug>.zip`; return the zip."""
    source = find_credentials()
    api = _client()
    endpoint = _endpoint(api)
    import requests

    try:
        with _captured():
            api.authenticate()
    except SystemExit:
        raise CnnzooError(
            f"Kaggle did not accept the credentials from {source}. " + token_help()
        ) from None
    except (requests.RequestException, OSError) as error:
        raise _explain(error, ref, source, endpoint) from None
    bar = progress and sys.stderr.isatty()  # tqdm's bar into a pipe is a mess of \r updates
    if progress and not bar:
        print(f"Downloading {ref} from Kaggle...", file=sys.stderr, flush=True)
    try:
        with _captured(sys.stderr if bar else None):
            api.dataset_download_files(ref, path=str(folder), force=True, quiet=not bar)
    except (requests.RequestException, OSError, ValueError) as error:
        raise _explain(error, ref, source, endpoint) from None
    except SystemExit:
        raise CnnzooError(f"The kaggle client gave up downloading {ref}.") from None
    archive = folder / f"{ref.split('/')[1]}.zip"
    if not archive.is_file():
        raise CnnzooError(f"The kaggle client reported success but wrote no {archive.name}.")
    return archive
