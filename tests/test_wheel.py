"""The built wheel ships the top-level migrations/ as ``activeloop.migrations`` and upgrades from it.

Builds a wheel from a copy of the project's files (offline: no build isolation, no index),
installs it into a fresh virtual environment without dependencies (those come from this
environment through a ``.pth`` file), and from there upgrades a first-revision database to head.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from activeloop.store import Pool, db

ROOT = Path(__file__).resolve().parent.parent
UPGRADE = """
import json, sys
import activeloop
from activeloop.store import Pool, db, migrate
before, after = migrate.upgrade(sys.argv[1])
with Pool.open(sys.argv[1], auto_upgrade=False) as pool:
    classes = pool.classes
print(json.dumps({"file": activeloop.__file__, "migrations": str(db.migrations_dir()), "before": before,
                  "after": after, "head": db.head_revision(), "classes": classes}))
"""


def _run(*args: str, cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_the_installed_wheel_upgrades_a_first_revision_database(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("activeloop", "migrations"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(tmp_path / "dist"), str(src), cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("activeloop-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"activeloop/migrations/env.py", "activeloop/migrations/script.py.mako",
            "activeloop/migrations/versions/0001_projects_examples_labels.py"} <= names

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel),
         cwd=tmp_path)
    site = Path(_run(str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}  # numpy, SQLAlchemy, Alembic ...
    (site / "zz_dev_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(deps)))

    url = f"sqlite:///{tmp_path / 'old.db'}"
    Pool.create(url, "old", ["ok", "fraud"]).close()
    engine = db.make_engine(url)
    db.downgrade(engine, "0001")  # a database as the first revision left it
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0001"
    engine.dispose()

    got = json.loads(_run(str(python), "-I", "-c", UPGRADE, url, cwd=tmp_path))
    assert Path(got["file"]).is_relative_to(site), got["file"]  # the wheel's copy, not this checkout
    assert Path(got["migrations"]) == site / "activeloop" / "migrations"
    assert (got["before"], got["after"]) == ("0001", got["head"])
    assert got["head"] == db.head_revision() != "0001"
    assert got["classes"] == ["ok", "fraud"]
