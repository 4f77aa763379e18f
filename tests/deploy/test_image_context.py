"""The image's build context and layers: no secret, history, database or environment in them.

The context is computed from ``.dockerignore`` with Docker's own matching rules
(``tests/deploy/dockerignore.py``), over this repository and over a tree that
has every kind of file that must stay out, at the root and deeper down.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.deploy.dockerignore import build_context, excluded, read_patterns

ROOT = Path(__file__).resolve().parents[2]
# Never in the context, at any depth.
FORBIDDEN = re.compile(
    r"(^|/)(\.git|\.venv|venv|__pycache__)(/|$)"
    r"|^docker/secrets(/|$)"
    r"|\.(db|db-journal|db-wal|db-shm|sqlite3?|pem|key)$"
    r"|(^|/)\.env$"
    r"|^(out|ledger-checkpoints)(/|$)|(^|/)out/"
)
# What must stay: docker/app/install.sh builds the wheel from these.
NEEDED = (
    "pyproject.toml",
    "requirements/runtime.txt",
    "docker/app/install.sh",
    "campaigns/settings.py",
    "cadencia/cli/app.py",
    "compliance/packs",
    "campaigns/storage/migrations/env.py",
)
PLANTED = (
    "docker/secrets/database_url",
    "docker/secrets/asterisk-site/manager_users.conf",
    ".git/config",
    ".git/objects/ab/cdef",
    "cadencia.db",
    "t.db-journal",
    "tests/fixtures/left-behind.db",
    "sandbox/demo/state.sqlite3",
    ".venv/bin/python",
    "tools/.venv/lib/site.py",
    "checkpoint.pem",
    "keys/checkpoint.pem",
    "ledger-checkpoints/ledger-checkpoint-000000000001.json",
    "out/report.html",
    "bench/out/result.json",
    ".env",
    "docker/.env",
    "campaigns/__pycache__/settings.cpython-311.pyc",
)


def test_the_repositorys_build_context_holds_nothing_it_must_not(tmp_path: Path) -> None:
    context = set(build_context(ROOT))
    leaked = sorted(p for p in context if FORBIDDEN.search(p))
    assert leaked == []
    for needed in NEEDED:
        assert needed in context or any(p.startswith(needed + "/") for p in context), needed


def test_secrets_history_databases_and_environments_stay_out_at_any_depth(
    tmp_path: Path,
) -> None:
    tree = tmp_path / "repo"
    shutil.copytree(ROOT / "docker", tree / "docker", ignore=shutil.ignore_patterns("secrets"))
    shutil.copy(ROOT / ".dockerignore", tree / ".dockerignore")
    for kept in ("pyproject.toml", "requirements/runtime.txt", "campaigns/settings.py"):
        (tree / kept).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / kept, tree / kept)
    for planted in PLANTED:
        (tree / planted).parent.mkdir(parents=True, exist_ok=True)
        (tree / planted).write_text("must not reach an image\n", encoding="utf-8")
    context = set(build_context(tree))
    assert sorted(set(PLANTED) & context) == []
    assert {"pyproject.toml", "requirements/runtime.txt", "campaigns/settings.py"} <= context
    assert "docker/app/install.sh" in context and "docker/Dockerfile" in context


@pytest.mark.parametrize(
    ("lines", "path", "out"),
    [
        (["*.db"], "a.db", True),
        (["*.db"], "sub/a.db", False),  # anchored at the root, unlike .gitignore
        (["**/*.db"], "sub/deep/a.db", True),
        (["docker/secrets"], "docker/secrets/x/y", True),  # a parent directory matches
        (["out"], "bench/out/x", False),
        (["**/out"], "bench/out/x", True),
        (["docker/secrets", "!docker/secrets/README.md"], "docker/secrets/README.md", False),
        (["a?c"], "a/c", False),
    ],
)
def test_dockers_matching_rules(lines: list[str], path: str, out: bool) -> None:
    assert excluded(read_patterns("\n".join(lines)), path) is out


def stages(dockerfile: str) -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split into build stages."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.startswith("#")]
    out: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def test_the_final_image_copies_only_the_installation_from_the_builder() -> None:
    """The source tree is copied into the builder stage only; the final stage takes
    /opt/cadencia from it, so no layer of the image holds the sources or the context."""
    builder, final = stages((ROOT / "docker" / "Dockerfile").read_text(encoding="utf-8"))
    assert re.match(r"FROM \S+ AS build$", builder[0])
    assert "COPY . /src" in builder
    assert any("docker/app/install.sh /opt/cadencia /src" in line for line in builder)
    copies = [ln for ln in final if ln.split()[0].upper() in ("COPY", "ADD")]
    assert copies == ["COPY --from=build /opt/cadencia /opt/cadencia"]
    assert final[0].split()[1] == builder[0].split()[1]  # the same base: the venv's python
    assert any(ln.startswith("USER cadencia") for ln in final)
