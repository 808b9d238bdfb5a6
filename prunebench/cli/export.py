"""`prunebench export RESULT`: a saved pruned model as deployable files, each read back and
checked against the model it came from."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from prunebench.cli.console import console
from prunebench.errors import PrunebenchError
from prunebench.export import parity
from prunebench.export.files import checked_file, load_pruned, write_exports
from prunebench.export.formats import FORMATS, file_for
from prunebench.results.store import check_writable, read_result, within
from prunebench.scenarios.check import usable

EXIT_PARITY = 1


def _formats(text: str) -> tuple[str, ...]:
    wanted = FORMATS if text == "all" else tuple(text.split(","))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise PrunebenchError(f"--format {text}: unknown format '{unknown[0]}'; choose from "
                              f"{', '.join(FORMATS)} or all")
    return wanted


def _size(n: int | None) -> str:
    return "–" if n is None else f"{n / 1e6:,.2f} MB"


def cmd_export(args: argparse.Namespace) -> int:
    wanted, tolerance = _formats(args.format), args.tolerance  # checked early (early.py)
    result = Path(args.result)
    record = read_result(result)
    if record.measured is None or record.measured.model_file is None:
        what = "ran to its end" if record.measured is None else "saved its model"
        raise PrunebenchError(f"{result} is a cell that never {what}: run it with "
                              "--save-models (`prunebench rerun` runs it as recorded), then "
                              "export it")
    if args.check and args.out:
        raise PrunebenchError("give --check (check the files beside the result) or --out "
                              "(write new ones), not both")
    folder = check_writable(Path(args.out), "--out") if args.out else result.parent
    scenario = usable(record.scenario)
    weights = result.parent / record.measured.model_file
    if not within(result.parent, weights):
        raise PrunebenchError(f"{result}'s model file {weights} is a link out of its folder "
                              f"(to {weights.resolve()}); export reads only inside it")
    model = load_pruned(weights, scenario, record.budget)
    part = model.get_submodule(scenario.measure_root).eval()
    before = record.measured.exports
    if args.check:
        done = {fmt: checked_file(file_for(weights, fmt), fmt, part, scenario.input_shape,
                                  tolerance, before.get(fmt, {}).get("exporter", "–"))
                for fmt in wanted}
    else:
        done = write_exports(weights, part, scenario.input_shape, wanted, folder=folder,
                             tolerance=tolerance)
    table = Table(title=f"{record.scenario} | {record.label}, {record.target}, seed "
                        f"{record.seed} | {scenario.measure_root or 'whole model'}")
    for column in ("format", "file", "size", "unpruned", "exporter", "parity"):
        table.add_column(column)
    failed = 0
    for fmt, entry in done.items():
        unpruned = before.get(fmt, {}).get("bytes_original")
        if "error" in entry:
            failed += 1
            table.add_row(fmt, "–", "–", _size(unpruned), "–", escape(f"not exported: "
                                                                        f"{entry['error']}"))
            continue
        check = entry["parity"]
        failed += not check["ok"]
        table.add_row(fmt, escape(str(folder / entry["file"])), _size(entry["bytes"]),
                      _size(unpruned), entry["exporter"],
                      escape(parity.Parity.from_json(check).text()))
    console.print(table)
    if failed:
        console.print(f"{failed} of {len(done)} formats failed; a file whose outputs differ "
                      "from the pruned model's beyond the tolerance must not be deployed")
    return EXIT_PARITY if failed else 0
