import argparse
import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from koprik.cli import build_parser, command_modules, main
from koprik.parsers.import_ import LARGE_BYTES
from tests.conftest import DATA, ROOT


def test_every_command_registers_under_its_name():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(commands) == set(command_modules()) >= {
        "serve", "demo", "import", "crosswalk", "sources", "harvest", "runs", "scheduler", "z3950",
        "sru",
    }


def test_a_command_loads_only_its_own_module():
    probe = ("import sys; from koprik.cli import main; main(['crosswalk', '--list']); "
             "print(sorted(m for m in sys.modules if m.startswith('koprik.commands.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines()[-1] == "['koprik.commands.crosswalk']"


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["no-such-command"]])
def test_the_command_line_alone_loads_no_command(argv):
    """``koprik --version`` or ``--help`` (a cron line, a shell's completion) builds every
    command's parser, and imported every command's module with it: SQLAlchemy, aiohttp, lxml,
    the dashboard... 1.2 s of CPU and 170 MB."""
    heavy = ("sqlalchemy", "aiohttp", "lxml", "alembic", "catalog", "harvester", "provider",
             "koprik.dashboard", "koprik.commands.")
    probe = ("import sys\nfrom koprik.cli import main\n"
             f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
             f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.splitlines()[-1] == "[]"


def test_the_accounts_of_koprik_users_come_without_the_web_dashboard():
    """``koprik users`` needs the accounts alone; importing :mod:`koprik.dashboard` imported the
    whole dashboard with them (aiohttp, Jinja2, the copy-cataloguing clients): 0.4 s of CPU
    a run (1.3 s against 0.9 s)."""
    probe = ("import sys\nimport koprik.commands.users\n"
             "print(sorted(m for m in sys.modules if m.startswith(('aiohttp', 'jinja2', "
             "'koprik.dashboard.app'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.splitlines()[-1] == "[]"


def _command_lines(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command and action (``sources add``) with its parser, the words naming it."""
    if words:
        yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word, sub in action.choices.items():
                yield from _command_lines(sub, (*words, word))


COMMAND_LINES = [words for words, _ in _command_lines(build_parser())]


@pytest.mark.parametrize("words", COMMAND_LINES, ids=" ".join)
def test_the_help_of_every_command(words, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*words, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: koprik {' '.join(words)} ")


def test_every_command_names_a_function_of_its_module():
    """A parser names the function running its command, in the module of
    :mod:`koprik.commands` of the same name: every one it can name is there."""
    modules = command_modules()
    named = 0
    for words, parser in _command_lines(build_parser()):
        handler = parser.get_default("handler")
        if handler is not None:
            module = importlib.import_module(f"koprik.commands.{modules[words[0]]}")
            assert callable(getattr(module, handler)), words
            named += 1
    assert named >= len(modules)


def test_global_options_before_the_command(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(tmp_path / "k.toml"), "-v", "demo", "--help"])
    assert exit_.value.code == 0
    assert "--records" in capsys.readouterr().out


def test_version(capsys):
    from config import koprik_version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"koprik {koprik_version()}\n"
    assert koprik_version()[0].isdigit()


def _large_file(path: Path) -> Path:
    """A file of MARC21 records large enough for ``koprik import`` to start its workers' fork
    server first (:data:`koprik.parsers.import_.LARGE_BYTES`)."""
    records = (ROOT / "tests" / "data" / "marc21" / "test.dat").read_bytes()
    path.write_bytes(records * (LARGE_BYTES // len(records) + 1))
    return path


@pytest.mark.parametrize(("command", "large", "started"), [
    ("import", True, True), ("import", False, False), ("crosswalk", True, False),
])  # fmt: skip
def test_a_command_storing_records_starts_its_fork_server_before_loading_the_catalogue(
    tmp_path, command, large, started
):
    """``koprik import`` of large files (demo, harvest) starts the fork server of its worker
    processes first, so that its preloading runs beside the command's own imports; other
    commands start none, nor does the import of a few records, which needs no worker (it
    started one, which imported the catalogue for nothing on another core)."""
    records = _large_file(tmp_path / "large.mrc") if large else DATA / "marc21" / "test.dat"
    probe = (
        "import sys\n"
        "from multiprocessing import forkserver\n"
        "from koprik import cli\n"
        "start = cli.start_fork_server\n"
        "def start_fork_server():\n"
        "    print('started with the catalogue loaded:', 'catalog.store' in sys.modules)\n"
        "    start()\n"
        "cli.start_fork_server = start_fork_server\n"
        f"cli.main(['--config', {str(tmp_path / 'k.toml')!r}, {command!r}, {str(records)!r}, "
        f"'--rejects', {str(tmp_path / 'rejects.txt')!r}])\n"
        "print('running:', forkserver._forkserver._forkserver_pid is not None)\n"
    )
    (tmp_path / "k.toml").write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n')
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120, cwd=tmp_path).stdout
    said = [line for line in out.splitlines() if line.startswith(("started", "running"))]
    assert said == (["started with the catalogue loaded: False", "running: True"] if started
                    else ["running: False"])


def test_a_small_import_that_wants_workers_after_all_starts_them_as_a_large_one(tmp_path):
    """A file under :data:`LARGE_BYTES` of records so short that a batch is derived in worker
    processes: their fork server, started then, is started as a large import starts it
    (:func:`config.runtime.start_fork_server`: a ^C while it preloads is not its traceback)."""
    from pymarc import Field, Record, Subfield

    records = bytearray()
    for n in range(400):
        record = Record(force_utf8=True, leader="00000nam a2200000 a 4500")
        record.add_field(Field(tag="001", data=f"s{n}"),
                         Field(tag="245", indicators=["0", "0"], subfields=[Subfield("a", "T")]))
        records += record.as_marc()
    assert len(records) < LARGE_BYTES
    (tmp_path / "short.mrc").write_bytes(records)
    probe = (
        "from catalog import workers\n"
        "from koprik import cli\n"
        "start = workers.start_fork_server\n"
        "def start_fork_server():\n"
        "    print('workers started through start_fork_server')\n"
        "    return start()\n"
        "workers.start_fork_server = start_fork_server\n"
        f"cli.main(['--config', {str(tmp_path / 'k.toml')!r}, 'import', 'short.mrc'])\n"
    )
    (tmp_path / "k.toml").write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n')
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120, cwd=tmp_path).stdout
    assert "workers started through start_fork_server" in out
    assert "import: 400 added" in out


def test_an_argument_that_is_not_utf8_is_refused_unless_it_names_a_file(tmp_path, capsys):
    """Undecodable bytes reach Python as surrogates, which the catalogue and every peer refuse
    (they were tracebacks); a file whose name has them is still read."""
    assert main(["dedup", "explain", "x\udcff"]) == 2
    assert capsys.readouterr().err == "koprik: argument 'x\\udcff' is not UTF-8 text\n"
    named = tmp_path / "t\udce9t\udce9.mrc"
    named.write_bytes((ROOT / "tests" / "data" / "marc21" / "test.dat").read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "koprik", "crosswalk", "--to", "marcxml", os.fsencode(named)],
        capture_output=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"<?xml")


@pytest.mark.parametrize(("argv", "message"), [
    (["demo", "--records", "-5"], "argument --records: expected a whole number from 1 to "
                                  "10000000, got -5"),
    (["runs", "--limit", "99999999999999999999"], "argument --limit: expected a whole number "
                                                  "from 1 to 100000, got 99999999999999999999"),
    (["runs", "--limit", "many"], "argument --limit: 'many' is not a whole number"),
])  # fmt: skip
def test_a_count_out_of_range_is_a_usage_error(argv, message, capsys):
    """``demo --records -5`` loaded nothing and said ``demo: ``; a huge ``--limit`` was a
    traceback from the database driver."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"koprik {argv[0]}: {message} (see koprik {argv[0]} --help)\n"


@pytest.mark.parametrize(("argv", "line"), [
    (["import"], "koprik import: the following arguments are required: FILE"),
    (["sources", "add"], "koprik sources add: the following arguments are required: name, --url"),
    (["nosuch"], "koprik: argument COMMAND: invalid choice: 'nosuch'"),
    (["serve", "--workers", "x"], "koprik serve: argument --workers: invalid int value: 'x'"),
])  # fmt: skip
def test_a_refused_command_line_is_one_line(argv, line, capsys):
    """argparse printed its usage block first (five lines for ``koprik import``)."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert said.startswith(line) and said.endswith(" --help)\n") and said.count("\n") == 1


def test_the_help_of_config_says_every_place_settings_are_read_from(tmp_path, monkeypatch):
    """It named only $KOPRIK_CONFIG, though ./koprik.toml is read when the variable is unset."""
    text = " ".join(build_parser().format_help().split())
    assert ("--config FILE the settings file to read (default: the one $KOPRIK_CONFIG names, "
            "else ./koprik.toml if there is one, else the built-in defaults)") in text
    from config import load_settings

    monkeypatch.delenv("KOPRIK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "koprik.toml").write_text('[repository]\nname = "Here"\n')
    assert load_settings().repository.name == "Here"
    other = tmp_path / "other.toml"
    other.write_text('[repository]\nname = "Named"\n')
    monkeypatch.setenv("KOPRIK_CONFIG", str(other))
    assert load_settings().repository.name == "Named"
    assert load_settings(tmp_path / "koprik.toml").repository.name == "Here"


def test_a_ctrl_c_as_a_command_starts_is_one_line_from_it_and_none_from_its_fork_server(
    tmp_path,
):
    """The ^C reaches the process group as the fork server is started (it is importing what
    the workers run) and the command loads its modules: each printed a traceback."""
    import signal
    import time

    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n')
    command = [sys.executable, "-m", "koprik", "--config", str(config), "import",
               str(_large_file(tmp_path / "large.mrc"))]  # fmt: skip
    running = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    children = Path(f"/proc/{running.pid}/task/{running.pid}/children")
    deadline = time.monotonic() + 60
    while not children.read_text().strip():  # the fork server started: it is importing
        assert time.monotonic() < deadline and running.poll() is None
        time.sleep(0.005)
    os.killpg(running.pid, signal.SIGINT)
    _, err = running.communicate(timeout=60)
    assert (running.returncode, err) == (130, "koprik: interrupted\n")


@pytest.mark.parametrize(("argv", "option"), [
    (["backup", "{new}/"], "FILE"),
    (["export", "-o", "{new}/"], "-o/--output"),
    (["export", "-o", "{new}/."], "-o/--output"),
    (["crosswalk", "-o", "{new}/"], "-o/--output"),
    (["crosswalk", "--rejects", "{new}/"], "--rejects"),
    (["crosswalk", "--report", "{new}//"], "--report"),
    (["import", "in.mrc", "--rejects", "{new}/"], "--rejects"),
    (["import", "in.mrc", "--report", "{new}/.."], "--report"),
    (["sru", "http://127.0.0.1:9/sru", "x", "-o", "{new}/"], "-o/--output"),
    (["z3950", "127.0.0.1:9/db", "x", "-o", "{new}/"], "-o/--output"),
])  # fmt: skip
def test_a_file_to_write_named_as_a_folder_is_refused_before_any_work(
    argv, option, tmp_path, capsys
):
    """``koprik backup new/`` and ``koprik export -o new/`` wrote a file ``new`` (``Path``
    drops the slash) where the name says a folder, which does not exist."""
    new = tmp_path / "new"
    argv = [word.format(new=new) for word in argv]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    named = next(word for word in argv if word.startswith(str(new)))
    assert capsys.readouterr().err.splitlines() == [
        f"koprik {argv[0]}: argument {option}: {named}: names a folder; name a file to write "
        f"(see koprik {argv[0]} --help)"]
    assert list(tmp_path.iterdir()) == []


def _koprik_shell(
    line: str, folder: Path, *, buffered: bool = True
) -> subprocess.CompletedProcess[str]:
    """``koprik`` run by the shell in ``folder`` (``line``: its arguments and redirections),
    with standard output ``buffered`` as an operator's is (the test run may set
    PYTHONUNBUFFERED), or not."""
    environment = {key: value for key, value in os.environ.items()
                   if key != "PYTHONUNBUFFERED"}  # fmt: skip
    if not buffered:
        environment["PYTHONUNBUFFERED"] = "1"
    return subprocess.run(["sh", "-c", f"exec {sys.executable} -m koprik {line}"], cwd=folder,
                          env=environment, capture_output=True, text=True, timeout=120)


def test_output_on_a_full_disk_is_one_line_naming_standard_output(tmp_path):
    """``koprik backup copy.sqlite3 > /dev/full`` made the copy, then Python, flushing standard
    output at exit, said "Exception ignored ... No space left on device" and ended with 120."""
    (tmp_path / "koprik.toml").write_text('[database]\nurl = "sqlite:///k.sqlite3"\n')
    made = _koprik_shell("demo --records 5 > /dev/full", tmp_path)
    assert (made.returncode, made.stderr) == (
        2, "koprik: standard output: No space left on device\n")
    copied = _koprik_shell("backup copy.sqlite3 > /dev/full", tmp_path)
    assert (copied.returncode, copied.stderr) == (
        2, "koprik: standard output: No space left on device\n")
    assert (tmp_path / "copy.sqlite3").stat().st_size > 0  # the copy is made all the same


def test_a_closed_standard_output_is_one_line(tmp_path):
    """``koprik export >&-`` (no -o, standard output closed) was a traceback: AttributeError,
    'NoneType' object has no attribute 'buffer'."""
    (tmp_path / "koprik.toml").write_text('[database]\nurl = "sqlite:///k.sqlite3"\n')
    assert _koprik_shell("demo --records 5", tmp_path).returncode == 0
    closed = _koprik_shell("export >&-", tmp_path)
    assert (closed.returncode, closed.stderr) == (
        2, "koprik: standard output is closed: name a file to write with -o\n")


@pytest.mark.parametrize("buffered", [True, False])
def test_records_written_to_a_full_standard_output_name_it(tmp_path, buffered):
    """``koprik export > /dev/full``: the write of the records failed inside the command and
    said "[Errno 28] No space left on device", naming nothing (``-o /dev/full`` named it)."""
    (tmp_path / "koprik.toml").write_text('[database]\nurl = "sqlite:///k.sqlite3"\n')
    assert _koprik_shell("demo --records 300", tmp_path).returncode == 0
    full = _koprik_shell("export > /dev/full", tmp_path, buffered=buffered)
    assert (full.returncode, full.stderr) == (
        2, "koprik: standard output: No space left on device\n")


def test_a_closed_standard_error_changes_nothing_else(tmp_path):
    """``2>&-``: Python leaves sys.stderr None; each status line meant for it went to standard
    output (into the records of ``koprik export > out.mrc``), and a progress bar's isatty()
    stopped ``export -o``, ``demo`` and ``db reindex`` with status 1, silently."""
    (tmp_path / "koprik.toml").write_text('[database]\nurl = "sqlite:///k.sqlite3"\n')
    assert _koprik_shell("demo --records 5 2>&-", tmp_path).returncode == 0
    assert _koprik_shell("export -o a.mrc 2>&-", tmp_path).returncode == 0
    assert _koprik_shell("export > b.mrc 2>&-", tmp_path).returncode == 0
    assert _koprik_shell("db reindex 2>&-", tmp_path).returncode == 0
    records = (tmp_path / "a.mrc").read_bytes()
    assert records.count(b"\x1d") == 5 and records.endswith(b"\x1d")
    assert (tmp_path / "b.mrc").read_bytes() == records


def test_runs_with_standard_output_closed_is_one_line(tmp_path):
    """``koprik runs >&-`` ended with status 0 having written nothing (``print`` to a closed
    standard output writes nothing); ``koprik export >&-`` says so in one line, status 2."""
    (tmp_path / "koprik.toml").write_text('[database]\nurl = "sqlite:///k.sqlite3"\n')
    assert _koprik_shell("demo --records 5", tmp_path).returncode == 0
    closed = _koprik_shell("runs >&-", tmp_path)
    assert (closed.returncode, closed.stderr) == (2, "koprik: standard output is closed\n")


def test_runs_of_an_empty_source_name_is_a_usage_error(capsys):
    """``koprik runs ''`` listed every run, as if no source had been named."""
    with pytest.raises(SystemExit) as stopped:
        main(["runs", ""])
    assert stopped.value.code == 2
    assert "argument source: an empty name" in capsys.readouterr().err


def test_a_worker_process_killed_is_one_line_with_what_the_command_kept() -> None:
    """A worker process SIGKILLed midway (by an operator, or the out-of-memory killer) ended
    ``koprik import`` with BrokenProcessPool's traceback (crash probe); it is one line, with the
    notes the command added (what it stored), as a ^C is said."""
    from concurrent.futures.process import BrokenProcessPool

    from koprik.cli import WORKER_LOST, failure

    error = BrokenProcessPool("A process in the process pool was terminated abruptly")
    error.add_note("after 250 added: those stay stored")
    args = build_parser().parse_args(["import", "x.mrc"])
    assert failure(error, args) == (2, f"{WORKER_LOST}; after 250 added: those stay stored")
