"""The standalone verifier needs nothing but the standard library and cryptography.

Its modules are read for their imports, and it is run for real in a fresh virtual environment
that holds only cryptography and what cryptography itself requires, from a copy of the package
and nothing else of the project, against a log served on 127.0.0.1.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from petitions.infra.tlog import entries
from tests.transparency.fakelog import StaticLog, sample_entries, serve

ROOT = Path(__file__).resolve().parents[2]
STANDALONE = [ROOT / "petitions" / "verify.py", *sorted((ROOT / "petitions" / "infra" / "tlog").glob("*.py"))]


def _top_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_verifier_and_the_log_core_import_only_the_standard_library_and_cryptography() -> None:
    for path in STANDALONE:
        for module in _top_imports(path):
            top = module.split(".")[0]
            allowed = (
                top in sys.stdlib_module_names or top == "cryptography" or module.startswith("petitions.infra.tlog")
            )
            assert allowed or module == "__future__", f"{path.relative_to(ROOT)} imports {module}"


def _requirements(name: str, seen: set[str]) -> None:
    """A distribution and, recursively, the ones it requires on this interpreter."""
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        return
    seen.add(key)
    for requirement in importlib.metadata.requires(name) or []:
        spec, _, marker = requirement.partition(";")
        if "extra ==" in marker:
            continue
        _requirements(re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0], seen)


def _copy_distribution(name: str, site: Path) -> None:
    dist = importlib.metadata.distribution(name)
    for file in dist.files or []:
        source = Path(str(dist.locate_file(file)))
        if ".." in file.parts or not source.is_file():
            continue  # scripts installed outside site-packages are not needed to import it
        target = site / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def test_the_verifier_runs_in_a_venv_holding_only_cryptography(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    assert site.is_relative_to(venv) and sysconfig.get_paths()["purelib"] != str(site)
    wanted: set[str] = set()
    _requirements("cryptography", wanted)
    assert "cryptography" in wanted and "flask" not in wanted
    for name in wanted:
        _copy_distribution(name, site)
    code = tmp_path / "code"
    shutil.copytree(ROOT / "petitions", code / "petitions", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(code), "LANG": "C.UTF-8"}

    installed = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m; print(sorted(d.metadata['Name'] for d in m.distributions()))",
        ],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "cryptography" in installed and "Flask" not in installed and "SQLAlchemy" not in installed, installed
    no_flask = subprocess.run([str(python), "-c", "import flask"], env=env, cwd=tmp_path, capture_output=True)
    assert no_flask.returncode != 0

    files: dict[str, bytes] = {}
    with serve(files) as url:
        log = StaticLog(url, "save-the-park", files)
        new, expected = sample_entries(600)
        log.append(new)
        state = tmp_path / "state.json"
        argv = [str(python), "-m", "petitions.verify", log.url, "--key", log.verifier_key, "--state", str(state)]
        ran = subprocess.run(
            [*argv, "--json", "--receipt", f"1:{1:032x}:signer1@example.org"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stderr
        result = json.loads(ran.stdout)
        assert {k: result[k] for k in ("count", "by_country", "by_group")} == expected
        assert any("receipt: entry 1 is your signature" in line for line in result["notes"])

        # A rewritten history, signed with the same key: the monitor's state catches it.
        files.clear()
        forged = StaticLog(url, "save-the-park", files, signer=log.signer)
        forged.append([new[0], entries.add_entry("12" * 32, "GB"), *new[2:], new[1]])
        ran = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 1
        assert ran.stderr.startswith("VERIFICATION FAILED: FORK:"), ran.stderr
