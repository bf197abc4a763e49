"""Claims: what a lesson's text says an experiment shows, checked by the run that shows it.

A lesson that writes "the constant rate never settles" follows its experiment with

    claim("1-cycle ends with a lower validation error than the constant rate in every run",
          all(c < k for c, k in zip(cycled, constant)), one_cycle=cycled, constant=constant)

which prints the claim with its numbers, or raises ``ClaimFailed`` saying what the text expected
and what this run produced. Running the notebook is then the proof of its prose, on whatever
machine it runs. The tests and ``benchmarks/claims.py`` read the same records from the executed
notebooks (``CLAIM_MIMETYPE``), so no claim is written twice.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

CLAIM_MIMETYPE = "application/vnd.cnncourse.claim+json"


@dataclass(frozen=True)
class Claim:
    """One checked sentence: its text, whether this run bore it out, and the numbers.
    ``checked`` is False for a claim that does not apply to this run (``held`` is then True)."""

    text: str
    held: bool
    numbers: dict = field(default_factory=dict)
    threads: int = 1
    checked: bool = True
    not_checked_because: str = ""

    def __str__(self) -> str:
        if not self.checked:
            return f"claim not checked here ({self.not_checked_because}): {self.text}"
        mark = "holds" if self.held else "DOES NOT HOLD"
        return f"claim {mark}: {self.text}\n    {_format(self.numbers)}"


class ClaimFailed(AssertionError):
    """A lesson's text and this run disagree; ``claim`` says how."""

    def __init__(self, claim: Claim) -> None:
        super().__init__(
            f"The lesson says: {claim.text}. This run gave {_format(claim.numbers)} "
            f"(torch {torch.__version__}, {claim.threads} thread(s)), which contradicts it. "
            "Please report it with these numbers; the rest of the lesson still runs if you "
            "skip this cell.")
        self.claim = claim


def _plain(value):
    """Numbers, lists and dicts as JSON-ready Python values (floats rounded to 4 places)."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _format(numbers: dict) -> str:
    return ", ".join(f"{name} = {value}" for name, value in numbers.items())


def claim(text: str, held: bool, only_on: str | None = None, data=None, **numbers) -> Claim:
    """Check one sentence of a lesson: ``held`` is the condition computed from this run,
    ``numbers`` the values it was computed from (shown either way). Raises ``ClaimFailed``
    when the run contradicts the text.

    A claim that the lesson makes for one data set only (``only_on="MNIST"``) is checked when
    ``data.name`` is that, and otherwise shown as not checked, with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be the sentence being checked, e.g. 'the loss falls'")
    if only_on is not None and getattr(data, "name", None) != only_on:
        name = getattr(data, "name", None) or "unnamed"
        result = Claim(text.strip(), True, _plain(numbers), torch.get_num_threads(),
                       checked=False, not_checked_because=f"stated for {only_on}, this run "
                       f"uses {name} data")
        _show(result)
        return result
    result = Claim(text.strip(), bool(held), _plain(numbers), torch.get_num_threads())
    _show(result)
    if not result.held:
        raise ClaimFailed(result)
    return result


def _show(result: Claim) -> None:
    """In a notebook: a display record that tests can read (text for people, JSON for tools);
    elsewhere: print."""
    try:
        from IPython import get_ipython
        from IPython.display import publish_display_data
    except ImportError:  # plain Python without IPython
        print(result)
        return
    if get_ipython() is None:
        print(result)
        return
    publish_display_data({"text/plain": str(result), CLAIM_MIMETYPE: asdict(result)})


def read_claims(outputs: list[dict]) -> list[dict]:
    """The claim records among a notebook cell's outputs (as nbformat stores them)."""
    found = []
    for output in outputs:
        record = output.get("data", {}).get(CLAIM_MIMETYPE)
        if record is not None:
            found.append(json.loads(record) if isinstance(record, str) else dict(record))
    return found


# Put first in a notebook run without MNIST: no network, as in an offline classroom, so
# load_mnist falls back at once to its bundled digits.
OFFLINE_CELL = """\
import socket

def _no_network(*args, **kwargs):
    raise OSError("network disabled: an offline classroom")

socket.socket.connect = _no_network
socket.create_connection = _no_network
"""


def run_notebook(path, threads: int | None = None, seeds=None, offline: bool = False,
                 workdir=None, timeout: int = 900, allow_errors: bool = False):
    """Execute a lesson notebook in a real kernel (nbclient) and return it with its outputs.

    - ``threads``: ``torch.set_num_threads`` before the first cell (``None``: torch's default);
    - ``seeds``: replaces the ``seeds`` of the cell tagged ``parameters`` (papermill's
      convention), for lessons that repeat their experiments;
    - ``offline``: cut the kernel's network first (set ``CNNCOURSE_DATA`` to an empty folder
      too, to run on the offline fallback);
    - ``allow_errors``: go on after a failing cell (a contradicted claim, say).
    Raises ``nbclient.exceptions.CellExecutionError`` otherwise.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    if seeds is not None:
        tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        if not tagged:
            raise ValueError(f"{path} has no cell tagged 'parameters' to take seeds")
        nb.cells.insert(tagged[0] + 1,
                        nbformat.v4.new_code_cell(f"seeds = {tuple(int(s) for s in seeds)!r}"))
    first = []
    if offline:
        first.append(OFFLINE_CELL)
    if threads is not None:
        first.append(f"import torch\ntorch.set_num_threads({int(threads)})")
    for source in reversed(first):
        nb.cells.insert(0, nbformat.v4.new_code_cell(source))
    folder = str(workdir) if workdir is not None else str(Path(path).resolve().parent)
    # Once the last cell has run, the kernel is killed, not asked to end: a kernel that had
    # imported torch took 2-3 s to end politely, and nothing it does then reaches the notebook.
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            allow_errors=allow_errors, shutdown_kernel="immediate",
                            resources={"metadata": {"path": folder}})
    client.execute()
    return nb


def notebook_claims(nb) -> list[dict]:
    """Every claim record of an executed notebook, in order."""
    return [record for cell in nb.cells if cell.cell_type == "code"
            for record in read_claims(cell.outputs)]


__all__ = ["CLAIM_MIMETYPE", "Claim", "ClaimFailed", "OFFLINE_CELL", "claim", "notebook_claims",
           "read_claims", "run_notebook"]
