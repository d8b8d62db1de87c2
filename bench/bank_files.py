"""Bank files for a million payees (issue 13): a batch written as SEPA and NACHA files split at the bank's limit
per file, in at most 3x the time of writing the same rows as one CSV, with peak memory bounded by one file.

Run by hand from the project root (no database, not part of the tests, never run in CI):

    .venv/bin/python bench/bank_files.py                   # 200,000 and 1,000,000 payments, 100,000 per file

Options: --payments (one or more counts, default 200000 1000000), --per-file (default 100000, the setting
PAYMENT_FILE_MAX_PAYMENTS), --no-validate (skip the third SEPA run, "sepa+schema", which writes with
validate=True: each file checked against the ISO schema as it is written).

What it does: for each count and each rail, a fresh worker process generates the payment instructions lazily
(unique end-to-end ids, valid IBANs or routing numbers, names with accents that mostly miss the
transliteration cache) and either writes them through payouts.banking.write_payment_files (SEPA pain.001, NACHA)
or writes the same rows as ONE CSV with the csv module (the baseline: end_to_end_id, name, account, bank code,
currency, amount). Each worker reports its wall time and its peak RSS (VmHWM) against its RSS before writing, so
that memory not growing with the count shows as the same peak at both counts. The report goes to
bench/results/bank_files.md.
"""

from __future__ import annotations

import csv
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

REPORT_PATH = harness.RESULTS_DIR / "bank_files.md"
TARGET_RATIO = 3.0
RAILS = ("sepa", "ach")
LETTER_DIGITS = {ord(letter): str(value) for value, letter in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", start=10)}
FIRST = ["Jörg", "Ana María", "Zoë", "François", "Łukasz", "Søren", "Aoife", "José", "Ngozi", "Mei", "Björn", "Inès",
         "Dmitri", "Ayşe", "Kwame", "Priya", "Tomás", "Hana", "Olumide", "Chloé"]
LAST = ["Müller", "Núñez", "O'Brien", "Lefèvre", "Wiśniewski", "Kierkegaard", "Ní Bhriain", "García", "Okafor",
        "Zhang", "Sigurðsson", "Dubois", "Ivanov", "Yılmaz", "Mensah", "Sharma", "Ó Súilleabháin", "Sato", "Adeyemi",
        "Martin"]


def parse_args(argv: list[str] | None):
    parser = harness.argument_parser(__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--per-file", type=int, default=100_000)
    parser.add_argument("--no-validate", action="store_true", help="skip the SEPA run with the schema check")
    parser.add_argument("--worker", choices=["sepa", "sepa+schema", "ach", "csv-sepa", "csv-ach"],
                        help=argparse_hidden())
    parser.add_argument("--out", help=argparse_hidden())
    parser.add_argument("--count", type=int, help=argparse_hidden())
    return parser.parse_args(argv)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


# --- the worker: one rail, one count, one process ---------------------------------------------------------

def _iban(number: int) -> str:
    bban = f"ABNA{number:010d}"
    digits = (bban + "NL00").translate(LETTER_DIGITS)
    return f"NL{98 - int(digits) % 97:02d}{bban}"


def _routing_numbers() -> list[str]:
    numbers = []
    for prefix in range(1100_0000, 1100_0000 + 400, 8):  # 50 banks: a few thousand receive all US payments
        digits = [int(char) for char in f"{prefix:08d}"]
        total = sum(weight * digit for weight, digit in zip([3, 7, 1, 3, 7, 1, 3, 7], digits, strict=True))
        numbers.append(f"{prefix:08d}{(10 - total % 10) % 10}")
    return numbers


def instructions(rail: str, count: int) -> Iterator:
    from payouts.banking import PaymentInstruction

    routing = _routing_numbers()
    names = [f"{first} {initial}. {last}" for first, initial, last in
             itertools.product(FIRST, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", LAST)]  # 10,400 names
    remittance = "Creator Partnerships November 2026"
    for number in range(count):
        name = f"{names[number % len(names)]} {number // len(names)}"  # unique: the caches miss
        if rail == "sepa":
            yield PaymentInstruction(end_to_end_id=f"B1-P{number:09d}", amount_minor=1_000 + number % 500_000,
                                     currency="EUR", name=name, iban=_iban(number),
                                     bic="ABNANL2A" if number % 3 else None, remittance=remittance)
        else:
            yield PaymentInstruction(end_to_end_id=f"B1-P{number:09d}", amount_minor=1_000 + number % 500_000,
                                     currency="USD", name=name, routing_number=routing[number % len(routing)],
                                     account_number=f"{100_000_000 + number}", remittance=remittance)


def write_csv(rail: str, count: int, directory: Path) -> dict:
    from payouts.banking.csvfile import amount_text

    path = directory / "batch.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["end_to_end_id", "name", "account", "bank", "currency", "amount"])
        for payment in instructions(rail, count):
            writer.writerow([payment.end_to_end_id, payment.name, payment.iban or payment.account_number,
                             payment.bic or payment.routing_number or "", payment.currency,
                             amount_text(payment.amount_minor, payment.currency)])
    return {"files": 1, "bytes": path.stat().st_size}


def write_bank_files(rail: str, count: int, directory: Path, per_file: int, *, validate: bool = False) -> dict:
    from payouts.banking import Originator, write_payment_files

    originator = Originator(name="Creator Partnerships GmbH", iban="DE89370400440532013000", bic="COBADEFFXXX",
                            ach_routing_number="021000021", ach_account_number="000123456789",
                            ach_company_id="1234567890")
    written = write_payment_files(rail=rail, instructions=instructions(rail, count), batch_reference="bench",
                                  execution_date=date(2026, 12, 4), directory=directory, originator=originator,
                                  max_per_file=per_file, validate=validate)
    assert sum(file.payments for file in written) == count
    return {"files": len(written), "bytes": sum(file.path.stat().st_size for file in written),
            "first_file": written[0].name}


def run_worker(args) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    django.setup()
    import payouts.banking  # noqa: F401  (imports before the baseline reading)

    rail = args.worker.removeprefix("csv-").removesuffix("+schema")
    with tempfile.TemporaryDirectory(prefix="bench-bank-files-") as folder:
        directory = Path(folder)
        baseline = harness.memory_mb("VmRSS")
        started, cpu_started = time.perf_counter(), time.process_time()
        if args.worker.startswith("csv-"):
            result = write_csv(rail, args.count, directory)
        else:
            result = write_bank_files(rail, args.count, directory, args.per_file,
                                      validate=args.worker.endswith("+schema"))
        result["seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = time.process_time() - cpu_started
        result["baseline_mb"] = baseline
        result["peak_mb"] = harness.memory_mb("VmHWM")
    return result


# --- the driver ---------------------------------------------------------------------------------------------

def measure(args) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(harness.ROOT)}
    env.pop("SECRET_KEY", None)
    rows = []
    for count in args.payments:
        for rail in RAILS:
            baseline_phase = f"csv-{rail}"
            phases = [rail, "sepa+schema"] if rail == "sepa" and not args.no_validate else [rail]
            results = {}
            for phase in [baseline_phase, *phases]:
                harness.log(f"{phase}: {count:,} payments")
                options = ["--count", str(count), "--per-file", str(args.per_file)]
                results[phase] = harness.run_worker(__file__, env, phase, *options)
                harness.log(f"{phase}: {results[phase]['seconds']:.1f} s, CPU {results[phase]['cpu_seconds']:.1f} s, "
                            f"peak RSS {results[phase]['peak_mb']:.0f} MB")
            for phase in phases:
                rows.append({"count": count, "rail": phase, "files": results[phase],
                             "csv": results[baseline_phase],
                             "ratio": results[phase]["seconds"] / results[baseline_phase]["seconds"],
                             "cpu_ratio": results[phase]["cpu_seconds"] / results[baseline_phase]["cpu_seconds"]})
    return rows


def render_report(args, rows: list[dict]) -> str:
    lines = [
        "# Bank files for a million payees",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')} on commit {harness.git('rev-parse', '--short', 'HEAD').strip()}, "
        f"{os.cpu_count()} cores (shared), {args.per_file:,} payments per file. Target: bank files <= "
        f"{TARGET_RATIO:g}x the one CSV of the same rows; peak memory bounded by one file, not growing with N.",
        "",
        "Wall time is what the target is about; on a shared machine other work inflates it unevenly, so CPU time "
        "(this process's) is shown beside it.",
        "",
        "| payments | rail | CSV s (CPU) | bank files s (CPU) | ratio wall | ratio CPU | files | CSV peak RSS MB | "
        "bank files peak RSS MB (before writing) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        rail, baseline = row["files"], row["csv"]
        verdict = "ok" if row["ratio"] <= TARGET_RATIO else "OVER"
        lines.append(f"| {row['count']:,} | {row['rail']} | "
                     f"{baseline['seconds']:.1f} ({baseline['cpu_seconds']:.1f}) | "
                     f"{rail['seconds']:.1f} ({rail['cpu_seconds']:.1f}) | {row['ratio']:.2f} ({verdict}) | "
                     f"{row['cpu_ratio']:.2f} | {rail['files']} | {baseline['peak_mb']:.0f} | "
                     f"{rail['peak_mb']:.0f} ({rail['baseline_mb']:.0f}) |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        import json

        Path(args.out).write_text(json.dumps(run_worker(args)))
        return 0
    rows = measure(args)
    harness.write_report(REPORT_PATH, render_report(args, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
