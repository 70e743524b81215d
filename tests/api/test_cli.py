"""The ``appgraph`` command: its errors, and its writes beside a running server."""

import asyncio
import io
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl  # type: ignore[import-untyped]
import pytest

from api.cli import main
from store import SQLiteStore
from tests.api.runtime_fixtures import Served, Workspace

APPGRAPH = Path(sys.executable).with_name("appgraph")

SURVEY = [
    ["type", "name", "label"],
    ["text", "site", "Site"],
    ["integer", "trees", "Trees"],
]
SETTINGS = [["form_title", "form_id"], ["Plot survey", "plot_survey"]]


def xlsform() -> bytes:
    """Return a small XLSForm workbook with two questions."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in (("survey", SURVEY), ("settings", SETTINGS)):
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], bool], description: str, timeout: float = 20.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {description}.")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Run every command without the caller's APPGRAPH_* settings."""
    for name in list(os.environ):
        if name.startswith("APPGRAPH_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Return a data directory with the workspace ``field``."""
    path = tmp_path / "data"
    assert main(["--data-dir", str(path), "workspace", "create", "field", "Field"]) == 0
    return path


def create_token(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    command = ["--data-dir", str(data_dir), "token", "create", "--workspace", "field"]
    assert main([*command, "--role", "admin", "--user", "ana"]) == 0
    return capsys.readouterr().out.strip()


# Import beside a running server ---------------------------------------------------


def graphql(url: str, token: str, query: str) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    return body


def responds(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def server(data_dir: Path, tmp_path: Path) -> Iterator[str]:
    """Run `appgraph serve` on ``data_dir`` and return its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    command = [str(APPGRAPH), "--data-dir", str(data_dir), "serve", "--port", str(port)]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: process.poll() is not None or responds(url), "the server to start"
        )
        assert process.poll() is None, log.read_text()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_import_reaches_running_server(
    data_dir: Path, server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = create_token(data_dir, capsys)
    assert graphql(server, token, "{ apps { slug } }") == {"data": {"apps": []}}
    form = tmp_path / "plots.xlsx"
    form.write_bytes(xlsform())

    command = ["--data-dir", str(data_dir), "import-xlsform", str(form)]
    code = main([*command, "--workspace", "field", "--slug", "plots"])

    assert code == 0
    assert (
        capsys.readouterr().out == "Imported plots.xlsx as app 'plots' (version 1).\n"
    )
    query = "{ plotsRecords { totalCount } }"
    wait_until(
        lambda: "data" in graphql(server, token, query), "the server to see the app"
    )
    apps = graphql(server, token, "{ apps { slug typeName } }")
    assert apps == {"data": {"apps": [{"slug": "plots", "typeName": "Plots"}]}}
    records = graphql(server, token, query)
    assert records == {"data": {"plotsRecords": {"totalCount": 0}}}


def test_import_leaves_events_for_server(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    form = tmp_path / "plots.xlsx"
    form.write_bytes(xlsform())

    command = ["--data-dir", str(data_dir), "import-xlsform", str(form)]
    assert main([*command, "--workspace", "field"]) == 0

    async def undispatched() -> list[str]:
        async with SQLiteStore(data_dir / "appgraph.sqlite3") as store:
            return [event.kind for event in await store.fetch_undispatched(100)]

    assert "definition.version_created" in asyncio.run(undispatched())
    assert capsys.readouterr().out == (
        "Imported plots.xlsx as app 'plot-survey' (version 1).\n"
    )


# Startup failures of `appgraph serve` -----------------------------------------------


def corrupt_database(data_dir: Path) -> None:
    (data_dir / "appgraph.sqlite3").write_bytes(b"not a database")


def broken_table(data_dir: Path) -> None:
    # The store opens and migrates, then fails when it lists the workspaces.
    with sqlite3.connect(data_dir / "appgraph.sqlite3") as db:
        db.execute("DROP TABLE workspaces")
        db.execute("CREATE TABLE workspaces (x)")
    db.close()


@pytest.mark.slow
@pytest.mark.parametrize("damage", [corrupt_database, broken_table])
def test_serve_exits_when_startup_fails(
    data_dir: Path, damage: Callable[[Path], None]
) -> None:
    damage(data_dir)
    command = [str(APPGRAPH), "--data-dir", str(data_dir), "serve"]
    command += ["--port", str(free_port())]

    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"appgraph serve still runs:\n{stderr}") from None

    assert process.returncode == 1, stderr
    assert "Application startup failed." in stderr
    assert stderr.splitlines()[-1] == (
        f"error: the server failed to start from the data directory {data_dir}; "
        "the log above shows the cause."
    )


def test_serve_rejects_file_as_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_file = tmp_path / "data"
    data_file.write_text("")

    assert main(["--data-dir", str(data_file), "serve"]) == 2

    assert capsys.readouterr().err == (
        f"error: the data directory {data_file} is not a directory; pass "
        "--data-dir or set APPGRAPH_DATA_DIR to a directory.\n"
    )


# Errors of the data commands ---------------------------------------------------------


def test_workspace_create_twice(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    assert main(["--data-dir", str(data_dir), "workspace", "create", "field", "F"]) == 1

    assert capsys.readouterr().err == (
        f"error: a workspace 'field' already exists in the data directory "
        f"{data_dir}; choose another slug, or create a token for it with "
        "`appgraph token create --workspace field --user USER`.\n"
    )


def test_workspace_create_prints_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["--data-dir", str(tmp_path), "workspace", "create", "lab", "Lab"]

    assert main(command) == 0

    output = capsys.readouterr().out
    assert output.startswith("Created workspace 'lab' (")
    assert output.endswith(f") in {tmp_path}.\n")


@pytest.mark.parametrize(
    ("slug", "suggestion"),
    [
        ("Bad Slug", "bad-slug"),
        ("9lives", "workspace-9lives"),
        ("café_crème", "cafe-creme"),
        ("", "workspace"),
        ("a" * 64, "a" * 63),
    ],
)
def test_workspace_create_rejects_slug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], slug: str, suggestion: str
) -> None:
    assert main(["--data-dir", str(tmp_path), "workspace", "create", slug, "W"]) == 2

    assert capsys.readouterr().err == (
        f"error: invalid workspace slug {slug!r}: a slug starts with a lowercase "
        "letter a-z, then has up to 62 lowercase letters, digits and '-'; use a "
        f"slug such as {suggestion!r}.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_workspace_create_rejects_empty_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["--data-dir", str(tmp_path), "workspace", "create", "field-team", " "]

    assert main(command) == 2

    assert capsys.readouterr().err == (
        "error: the workspace name is empty; pass a display name such as "
        "'Field Team'.\n"
    )


@pytest.mark.parametrize("user", ["", "  "])
def test_token_create_rejects_empty_user(
    data_dir: Path, capsys: pytest.CaptureFixture[str], user: str
) -> None:
    command = ["--data-dir", str(data_dir), "token", "create", "--workspace", "field"]

    assert main([*command, "--user", user]) == 2

    assert capsys.readouterr().err == (
        "error: the user id is empty; pass the id of the user the token acts as, "
        "such as --user ana.\n"
    )


def test_token_create_without_workspace(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["--data-dir", str(data_dir), "token", "create", "--workspace", "demo"]

    assert main([*command, "--user", "ana"]) == 1

    assert capsys.readouterr().err == (
        f"error: no workspace 'demo' in the data directory {data_dir}; create it "
        "with `appgraph workspace create demo NAME`, or pass --data-dir or set "
        "APPGRAPH_DATA_DIR to the directory that has it.\n"
    )


NO_DATABASE = (
    "error: no appgraph database in the data directory {}; pass --data-dir or "
    "set APPGRAPH_DATA_DIR to the directory that `appgraph serve` uses, or "
    "create a workspace here first with `appgraph workspace create SLUG NAME`.\n"
)


def test_token_create_without_database(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.chdir(tmp_path)

    assert main(["token", "create", "--workspace", "demo", "--user", "ana"]) == 2

    assert capsys.readouterr().err == NO_DATABASE.format(tmp_path / "data")
    assert list(tmp_path.iterdir()) == []


def test_import_without_database(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    form = tmp_path / "plots.xlsx"
    form.write_bytes(xlsform())
    empty = tmp_path / "empty"
    clean_env.setenv("APPGRAPH_DATA_DIR", str(empty))

    assert main(["import-xlsform", str(form), "--workspace", "demo"]) == 2

    assert capsys.readouterr().err == NO_DATABASE.format(empty)
    assert not empty.exists()


def test_import_rejects_slug(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["--data-dir", str(data_dir), "import-xlsform", str(tmp_path)]

    assert main([*command, "--workspace", "field", "--slug", "my plots"]) == 2

    assert capsys.readouterr().err == (
        "error: invalid --slug: The app slug 'my plots' may contain only lowercase "
        "letters a-z, digits and '-'. Use a slug such as 'my-plots'.\n"
    )


def test_import_slug_taken(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    form = tmp_path / "plots.xlsx"
    form.write_bytes(xlsform())
    command = ["--data-dir", str(data_dir), "import-xlsform", str(form)]
    assert main([*command, "--workspace", "field"]) == 0
    capsys.readouterr()

    assert main([*command, "--workspace", "field"]) == 1

    assert capsys.readouterr().err == (
        "error: an app with slug 'plot-survey' already exists in workspace "
        "'field'; pass another slug with --slug.\n"
    )


def test_import_missing_file(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    form = tmp_path / "missing.xlsx"
    command = ["--data-dir", str(data_dir), "import-xlsform", str(form)]

    assert main([*command, "--workspace", "field"]) == 1

    assert capsys.readouterr().err == (
        f"error: no file {str(form)!r}; pass the path of an XLSForm saved as "
        ".xlsx or .xls.\n"
    )


def test_import_directory(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["--data-dir", str(data_dir), "import-xlsform", str(tmp_path)]

    assert main([*command, "--workspace", "field"]) == 1

    assert capsys.readouterr().err == (
        f"error: {str(tmp_path)!r} is a directory; pass the path of an XLSForm "
        "saved as .xlsx or .xls.\n"
    )


def test_import_not_a_workbook(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("site, trees")
    command = ["--data-dir", str(data_dir), "import-xlsform", str(notes)]

    assert main([*command, "--workspace", "field"]) == 1

    assert capsys.readouterr().err == (
        "error: The file 'notes.txt' is not an Excel workbook. Expected an XLSForm "
        "saved as .xlsx or .xls; open the form in a spreadsheet program, save it "
        "in one of these formats and upload it again.\n"
    )


def test_command_rejects_corrupt_database(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt_database(data_dir)
    command = ["--data-dir", str(data_dir), "token", "create", "--workspace", "field"]

    assert main([*command, "--user", "ana"]) == 1

    assert capsys.readouterr().err == (
        f"error: cannot open the database {data_dir / 'appgraph.sqlite3'}: file "
        "is not a database; pass --data-dir or set APPGRAPH_DATA_DIR to the data "
        "directory of appgraph.\n"
    )


# Downloads ---------------------------------------------------------------------------

PHOTOS = {"blocks": [{"id": "photo", "type": "photo"}]}

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201f5d3b6a4"
    "0000000049454e44ae426082"
)

PHOTO_CREATE = """
mutation($data: PhotosData!) {
  photosCreate(input: {data: $data}) {
    record { photo { id } }
    errors { path code message }
  }
}
"""


@pytest.fixture(scope="module")
def photos(served: Served) -> Workspace:
    """Return a workspace with the app ``photos`` of one photo block."""
    workspace = served.workspace("downloads")
    assert workspace.create_app("photos", PHOTOS)["errors"] == []
    return workspace


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        ("gate.png", 'attachment; filename="gate.png"'),
        ("../gate:1.png", 'attachment; filename="..gate1.png"'),
        (
            "Café ü.png",
            'attachment; filename="Cafe u.png"; '
            "filename*=UTF-8''Caf%C3%A9%20%C3%BC.png",
        ),
        (
            "植物.png",
            "attachment; filename=\"__.png\"; filename*=UTF-8''%E6%A4%8D%E7%89%A9.png",
        ),
    ],
)
def test_download_names_file(
    served: Served, photos: Workspace, filename: str, header: str
) -> None:
    status, body = served.upload(
        photos.admin,
        PHOTO_CREATE,
        {"data": {"photo": {"upload": None}}},
        {"variables.data.photo.upload": (filename, PNG, "image/png")},
    )
    assert status == 200, body
    photo_id = body["data"]["photosCreate"]["record"]["photo"]["id"]

    download = served.client.get(
        f"/files/{photo_id}", headers={"Authorization": f"Bearer {photos.admin}"}
    )

    assert download.status_code == 200
    assert download.headers["content-disposition"] == header
    assert download.content == PNG
