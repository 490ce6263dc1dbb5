"""docs/VERIFIABLE-COUNTS.md's "by hand" check is run as printed, against a log served over HTTP.

What a reader copies out of the docs must work: the Python snippet checks the signature, the
root and the count, and refuses a forged checkpoint; the commitment one-liner gives the site's
commitment.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from petitions.infra.tlog import entries, note
from tests.transparency.fakelog import StaticLog, sample_entries, serve

DOC = Path(__file__).resolve().parents[2] / "docs" / "VERIFIABLE-COUNTS.md"
SLUG = "save-the-park"


def snippet(kind: str) -> str:
    """The first fenced block of this kind in the doc."""
    match = re.search(rf"```{kind}\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"no {kind} block in {DOC.name}"
    return match.group(1)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "check.py"
    path.write_text(snippet("python"))
    return path


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("size", [0, 1, 5, 200, 255])
def test_the_snippet_counts_the_log_as_the_verifier_does(script: Path, size: int) -> None:
    files: dict[str, bytes] = {}
    with serve(files) as url:
        log = StaticLog(url, SLUG, files)
        new, expected = sample_entries(size, SLUG)
        if new:
            log.append(new)
        else:
            log.sign()
        done = run(str(script), log.url, log.verifier_key)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{log.checkpoint.origin} count: {expected['count']}"
    printed = dict(line.split() for line in lines[1:])
    groups = {k: str(v) for k, v in expected["by_group"].items()}
    assert printed == {k: str(v) for k, v in expected["by_country"].items()} | groups


def test_the_snippet_refuses_a_forged_checkpoint_and_a_changed_entry(script: Path) -> None:
    files: dict[str, bytes] = {}
    with serve(files) as url:
        log = StaticLog(url, SLUG, files)
        log.append(sample_entries(20, SLUG)[0])
        other = str(note.generate_key(note.key_name(url)).verifier)
        assert "not signed by this key" in run(str(script), log.url, other).stderr
        path = log.prefix + "tile/entries/000.p/20"
        files[path] = files[path].replace(b'"FR"', b'"GB"', 1)
        assert "the entries do not make the signed root" in run(str(script), log.url, log.verifier_key).stderr


def test_the_commitment_one_liner_is_the_sites_commitment() -> None:
    code = re.search(r"^python3 -c '(.*?)'", DOC.read_text(), re.M)
    assert code, "no commitment one-liner in the doc"
    nonce = "0f3c5e" + "0" * 26
    done = run("-c", code.group(1), SLUG, "ada@example.org", nonce)
    assert done.stdout.strip() == entries.commitment(SLUG, "ada@example.org", nonce)
