"""Optional parts fail in one line naming their extra; the core runs on the newest scikit-learn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from optional import needs_modal

from activeloop import Pool
from activeloop.errors import MissingExtraError
from activeloop.extras import require, require_modal

WITHOUT_MODAL = "import sys; sys.modules['modAL'] = None\n"  # as when the modal extra is not installed


def run_without_modal(code: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_MODAL + code, *map(str, args)], capture_output=True, text=True)


def test_require_names_the_extra_to_install():
    with pytest.raises(MissingExtraError, match=r'^frobbing needs the \'frob\' extra, .*: pip install "activeloop\[frob\]"$'):
        require("no_such_module_for_activeloop", "frob", "frobbing")


def test_modal_strategies_without_the_extra_raise_missing_extra_error():
    done = run_without_modal(
        "from activeloop.query import resolve\n"
        "from activeloop.errors import MissingExtraError\n"
        "try:\n    resolve('modal:margin_sampling')\n"
        "except MissingExtraError as exc:\n    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "activeloop[modal]"' in done.stdout


def test_cli_query_with_a_modal_strategy_without_the_extra_fails_in_one_line(tmp_path):
    db = tmp_path / "p.db"
    with Pool.create(f"sqlite:///{db}", "p", ["ok", "rare"]) as pool:
        pool.add(np.random.default_rng(0).standard_normal((30, 3)).astype(np.float32))
    done = run_without_modal("from activeloop.cli import app; app()", "query", db, "--strategy", "modal:margin_sampling")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: modal:* strategies needs the 'modal' extra")
    assert done.stderr.rstrip().endswith('pip install "activeloop[modal]"')


@needs_modal
def test_modal_refuses_a_scikit_learn_it_cannot_run_on(monkeypatch):
    import sklearn

    monkeypatch.setattr(sklearn, "__version__", "1.9.1")
    with pytest.raises(MissingExtraError, match=r"modAL-python needs scikit-learn < 1.8 .*found 1.9.1"):
        require_modal()


def test_the_core_declares_a_true_scikit_learn_lower_bound_and_no_upper_one():
    from importlib.metadata import requires

    core = [r for r in requires("activeloop") if r.startswith("scikit-learn") and "extra ==" not in r]
    assert core == ["scikit-learn>=1.6"]
    modal = [r for r in requires("activeloop") if "extra == \"modal\"" in r]
    assert any(r.startswith("scikit-learn") and "<1.8" in r for r in modal)
    assert any(r.lower().startswith("modal-python") for r in modal)


def test_custom_strategy_bench_example_without_the_extra_is_one_line_naming_it(tmp_path):
    example = Path(__file__).parents[1] / "examples" / "custom_strategy_bench.py"
    done = run_without_modal("import runpy\nsys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')\n",
                             example, "--seeds", "1", "--out", tmp_path / "out")
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and 'pip install "activeloop[modal]"' in lines[0], done.stderr
    assert not (tmp_path / "out").exists()
