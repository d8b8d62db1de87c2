"""Payment batches for a million payees (issue 13): a batch is built (batch_create) and written as SEPA files split
at PAYMENT_FILE_MAX_PAYMENTS (batch_release) in at most 3x the time of writing the same rows as one CSV, with peak
memory bounded by one file and not growing with the batch.

Run by hand from the project root, against a local PostgreSQL (not part of the tests, never run in CI):

    .venv/bin/python bench/batches.py                      # 200,000 and 1,000,000 payees, 100,000 per file
    .venv/bin/python bench/batches.py --payees 200000 --reuse

Options: --server, --payees (one or more sizes, default 200000 1000000; each its own database
cp_bench_batches_<size>), --per-file (PAYMENT_FILE_MAX_PAYMENTS, default 100000), --reuse (keep a database loaded
with the same spec: the measurement first empties the batches and the ledger, so it can be repeated), --profile
(cProfile the release too, untimed, and add its top functions to the report), --first-release (the measurement
also closes the partners' *sent* ledger accounts, so the release opens them all, as a partner's first payment does).

The load (a worker process, set-based SQL, never the ORM per row): N partners (bench/data/pooled's generator), one
SEPA payee per partner, one approved final EUR run with one payable earning line per partner, and each partner's
*in payment* ledger account (what approving the run would have left there). The payees' holder names and IBANs
are Fernet-encrypted by the model field in Python: the loader encrypts each DISTINCT value once with the field's
own get_prep_value (10,400 names, 10,000 valid IBANs: about 20,000 encryptions), puts the ciphertexts in a
temporary table and INSERTs the payees with one SELECT joining it by number, so every payee's columns hold real
ciphertext that release must decrypt (about 2 decryptions per payee, nothing cached: the same ciphertext on two
rows is decrypted twice).

The measurement (a second worker process per size), each phase timed with wall clock, this process's CPU, the
database backend's CPU, and its peak RSS from a thread sampling VmRSS every 10 ms:

- csv-copy: the rows (partner, amount, holder, IBAN as stored: ciphertext) as ONE CSV straight from PostgreSQL,
  COPY ... TO STDOUT into a file: the floor, no decryption;
- csv-decrypt: the same rows through a server-side cursor and the csv module, holder and IBAN decrypted by the
  field's to_python, value by value: the same plain rows the bank files hold, as one CSV. The target's ratio is
  taken against this one: a bank file of ciphertext pays nobody;
- csv-batched: the same CSV with each fetch's holders and IBANs decrypted together by core.encrypted.decrypt_many
  (what release uses: the field's result, about 5 times faster): the strictest baseline, reported beside the
  target's ratio (not the target's definition);
- decrypt-only: the decryptions alone (2 per payee, the field's to_python) over the streamed ciphertexts, to say
  what they cost;
- batch_create (SQL: payments, exclusions, items) and batch_release (the payees read and decrypted, the SEPA files
  written through payouts.banking, the ledger posted), by two different superusers.

Python keeps freed memory, so a phase's "RSS before" includes what earlier phases held (the run of 23:12 had
decrypt-only fetch every ciphertext at once: 789 MB at 1,000,000, hence release starting at 381 MB); memory not
growing with the batch shows as release's peak minus its start being the same at both sizes.

Checks: the batch holds N payments and the control total of the lines; the files hold N payments in
ceil(N / per-file) files. The report goes to bench/results/batches.md. Drop the databases with
    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE cp_bench_batches_200000' ...
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/batches.py`, Python puts bench/ first on the path; the project root is what we need.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench import harness  # noqa: E402
from bench.harness import log  # noqa: E402

REPORT_PATH = harness.RESULTS_DIR / "batches.md"
LOAD_VERSION = 1
TARGET_RATIO = 3.0
MONTH = "2026-10-01"
PROGRAM_SLUG = "bench-batches"
PAYEE_DATA_KEY = "bench-batches-payee-key"
DISTINCT_IBANS = 10_000
LETTER_DIGITS = {ord(letter): str(value) for value, letter in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", start=10)}


def database_name(payees: int) -> str:
    return f"cp_bench_batches_{payees}"


def worker_environment(args: argparse.Namespace, payees: int, directory: str) -> dict:
    return harness.django_environment(f"{args.server}/{database_name(payees)}", "bench-batches-not-a-secret",
                                      CELERY_BROKER_URL=None, PAYEE_DATA_KEY=PAYEE_DATA_KEY, MEDIA_ROOT=directory,
                                      PAYMENT_FILE_MAX_PAYMENTS=str(args.per_file),
                                      PAYMENT_ORIGINATOR_NAME="Creator Partnerships GmbH",
                                      PAYMENT_ORIGINATOR_IBAN="DE89370400440532013000",
                                      PAYMENT_ORIGINATOR_BIC="COBADEFFXXX")


# =====================================================================================================
# Load (worker)
# =====================================================================================================

def _iban(number: int) -> str:
    bban = f"ABNA{number:010d}"
    digits = (bban + "NL00").translate(LETTER_DIGITS)
    return f"NL{98 - int(digits) % 97:02d}{bban}"


def load(payees: int) -> dict:
    from bench.data import pooled

    step = harness.LoadSteps()
    harness.execute(*harness.LOAD_SESSION)
    step("partners", lambda: pooled.load_partners(payees))
    step("ciphertexts (one encryption per distinct value)", encrypt_distinct_values)
    step("payees (SEPA, EUR)", insert_payees)
    step("program, approved run (ORM)", create_run)
    step("payable lines", insert_lines)
    step("in-payment ledger accounts", insert_accounts)
    harness.execute("RESET ALL")
    step("VACUUM ANALYZE", lambda: harness.execute("VACUUM (ANALYZE)"))
    harness.execute("CHECKPOINT")
    return {"steps": step.steps}


def encrypt_distinct_values() -> int:
    from django.db import connection

    from bench.bank_files import FIRST, LAST
    from payouts.models import Payee

    holder, iban = Payee._meta.get_field("account_holder"), Payee._meta.get_field("iban")
    names = [f"{first} {initial}. {last}" for first in FIRST for initial in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
             for last in LAST]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_cipher (kind text, n int, value text, last4 text, PRIMARY KEY (kind, n))")
        with cursor.copy("COPY bench_cipher (kind, n, value, last4) FROM STDIN") as copy:
            for n, name in enumerate(names):
                copy.write_row(("holder", n, holder.get_prep_value(name), ""))
            for n in range(DISTINCT_IBANS):
                plain = _iban(n)
                copy.write_row(("iban", n, iban.get_prep_value(plain), plain[-4:]))
    return len(names) + DISTINCT_IBANS


def insert_payees() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM bench_cipher WHERE kind = 'holder'")
        names = cursor.fetchone()[0]
        cursor.execute(f"""
            INSERT INTO payouts_payee (partner_id, rail, currency, account_holder, iban, bic, routing_number,
                                       account_number, last4, blocked_reason)
            SELECT pa.id, 'sepa', 'EUR', h.value, i.value, CASE WHEN pa.id % 3 = 0 THEN '' ELSE 'ABNANL2A' END,
                   NULL, NULL, i.last4, ''
            FROM partnerships_partner pa
            JOIN bench_cipher h ON h.kind = 'holder' AND h.n = pa.id % {names}
            JOIN bench_cipher i ON i.kind = 'iban' AND i.n = (pa.id * 7) % {DISTINCT_IBANS}
            ORDER BY pa.id""")
        return cursor.rowcount


def create_run() -> None:
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from partnerships.models import Program
    from payouts.models import PayoutRun

    users = get_user_model().objects
    users.create_superuser("bench-maker", "maker@example.com", "x")
    users.create_superuser("bench-releaser", "releaser@example.com", "x")
    program = Program.objects.create(slug=PROGRAM_SLUG, name="Bench batches", archetype="pooled_fund",
                                     currency="EUR", time_zone="UTC")
    month = dt.date.fromisoformat(MONTH)
    PayoutRun.objects.create(program=program, month=month, kind=PayoutRun.Kind.FINAL,
                             status=PayoutRun.Status.APPROVED, currency="EUR", as_of=dt.date(2026, 10, 31),
                             started_at=timezone.now(), computed_at=timezone.now(), approved_at=timezone.now())


def insert_lines() -> int:
    from django.db import connection

    from partnerships.models import Program
    from payouts.formulas.tables import LINE_TABLE
    from payouts.models import PayoutRun

    run = PayoutRun.objects.get(program__slug=PROGRAM_SLUG)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO {LINE_TABLE} (run_id, partner_id, basis, basis_value, basis_total, weight, gross_minor,
                capped, rounding_minor, remainder, adjustments_minor, carried_in_minor, withholding_minor, net_minor,
                status, hold_reason, note)
            SELECT %s, id, 'views', 0, 0, 0, amount, false, 0, 0, 0, 0, 0, amount, 'payable', '', ''
            FROM (SELECT id, 1000 + (id * 7919) %% 500000 AS amount FROM partnerships_partner) p ORDER BY id""",
                       [run.pk])
        lines = cursor.rowcount
        cursor.execute("UPDATE payouts_payoutrun SET line_count = %s, total_payable_minor = "
                       f"(SELECT SUM(net_minor) FROM {LINE_TABLE} WHERE run_id = %s) WHERE id = %s",
                       [lines, run.pk, run.pk])
    assert Program.objects.filter(slug=PROGRAM_SLUG).exists()
    return lines


def insert_accounts() -> int:
    from django.db import connection

    from payouts.models import LedgerAccount

    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO payouts_ledgeraccount (kind, currency, partner_id, program_id)
            SELECT %s, 'EUR', pa.id, pr.id FROM partnerships_partner pa CROSS JOIN partnerships_program pr
            WHERE pr.slug = %s ORDER BY pa.id""", [LedgerAccount.Kind.PARTNER_IN_PAYMENT, PROGRAM_SLUG])
        return cursor.rowcount


# =====================================================================================================
# Measure (worker)
# =====================================================================================================

class PeakSampler:
    """This process's peak RSS during a phase: a thread reads VmRSS every 10 ms (VmHWM is the whole process's)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, harness.memory_mb("VmRSS"))
            self._stop.wait(0.01)

    def __enter__(self) -> PeakSampler:
        self.start_mb = harness.memory_mb("VmRSS")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, harness.memory_mb("VmRSS"))


def cpu_seconds(pid: int | str) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(label: str, backend_pid: int, function) -> tuple[object, dict]:
    import gc

    gc.collect()
    backend0 = cpu_seconds(backend_pid)
    with PeakSampler() as sampler:
        started, cpu0 = time.perf_counter(), time.process_time()
        result = function()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    reading = {"seconds": wall, "cpu_seconds": cpu, "backend_cpu_seconds": cpu_seconds(backend_pid) - backend0,
               "start_mb": sampler.start_mb, "peak_mb": sampler.peak}
    log(f"  {label}: {wall:.1f} s, CPU {cpu:.1f} s (database {reading['backend_cpu_seconds']:.1f} s), "
        f"RSS {sampler.start_mb:.0f} -> peak {sampler.peak:.0f} MB")
    return result, reading


BASELINE_ROWS = """SELECT l.partner_id, l.net_minor, p.account_holder, p.iban, p.bic
    FROM payouts_earningline l JOIN payouts_payee p ON p.partner_id = l.partner_id ORDER BY l.partner_id"""


def reset(first_release: bool = False) -> None:
    """Empty what a measurement made (batches, payments, the ledger: TRUNCATE fires no row trigger). First release:
    also close the partners' *sent* accounts, which a release opens the first time a partner is paid."""
    harness.execute("TRUNCATE payouts_statementline, payouts_statementimport, payouts_paymentbatchfile, "
                    "payouts_paymentitem, payouts_payment, payouts_paymentbatchexclusion, payouts_paymentbatchrelease, "
                    "payouts_paymentbatchcreation, payouts_paymentbatch, "
                    "payouts_ledgerentry, payouts_ledgertransaction")
    if first_release:
        harness.execute("DELETE FROM payouts_ledgeraccount WHERE kind = 'partner_sent'",
                        "VACUUM (FULL) payouts_ledgeraccount")
    harness.execute("VACUUM (ANALYZE)", "CHECKPOINT")


def csv_copy(path: Path) -> int:
    from django.db import connection

    statement = f"COPY ({BASELINE_ROWS}) TO STDOUT WITH (FORMAT csv, HEADER)"
    with connection.cursor() as cursor, path.open("wb") as handle, cursor.copy(statement) as copy:
        for block in copy:
            handle.write(block)
    return path.stat().st_size


def csv_decrypt(path: Path) -> int:
    """Server-side cursor, 2,000 rows a fetch, holder and IBAN decrypted by the field, the csv module."""
    from django.db import connection, transaction

    from payouts.models import Payee

    holder, iban = (Payee._meta.get_field(name).to_python for name in ("account_holder", "iban"))
    with transaction.atomic(), connection.connection.cursor(name="bench_csv") as cursor, \
            path.open("w", encoding="utf-8", newline="") as handle:
        cursor.itersize = 2000
        cursor.execute(BASELINE_ROWS)
        writer = csv.writer(handle)
        writer.writerow(["partner", "amount_minor", "name", "iban", "bic"])
        for partner, amount, name, account, bic in cursor:
            writer.writerow([partner, amount, holder(name), iban(account), bic])
    return path.stat().st_size


def csv_batched(path: Path) -> int:
    """csv_decrypt with each fetch's holders and IBANs decrypted together (core.encrypted.decrypt_many)."""
    from django.db import connection, transaction

    from core.encrypted import decrypt_many
    from payouts.models import Payee

    holder, iban = (Payee._meta.get_field(name) for name in ("account_holder", "iban"))
    with transaction.atomic(), connection.connection.cursor(name="bench_csv_batched") as cursor, \
            path.open("w", encoding="utf-8", newline="") as handle:
        cursor.execute(BASELINE_ROWS)
        writer = csv.writer(handle)
        writer.writerow(["partner", "amount_minor", "name", "iban", "bic"])
        while block := cursor.fetchmany(2000):
            partners, amounts, names, accounts, bics = zip(*block, strict=True)
            writer.writerows(zip(partners, amounts, decrypt_many(holder, names), decrypt_many(iban, accounts), bics,
                                 strict=True))
    return path.stat().st_size


def decrypt_only() -> dict:
    """The decryptions alone: the ciphertexts streamed (server-side cursor, 2,000 a fetch) and decrypted, the
    decrypting timed apart from the fetching."""
    from django.db import connection, transaction

    from payouts.models import Payee

    holder, iban = (Payee._meta.get_field(name).to_python for name in ("account_holder", "iban"))
    rows, seconds = 0, 0.0
    with transaction.atomic(), connection.connection.cursor(name="bench_decrypt") as cursor:
        cursor.itersize = 2000
        cursor.execute("SELECT account_holder, iban FROM payouts_payee")
        while block := cursor.fetchmany(2000):
            started = time.perf_counter()
            for name, account in block:
                holder(name), iban(account)
            seconds += time.perf_counter() - started
            rows += len(block)
    return {"rows": rows, "decrypt_seconds": seconds}


def measure(profile: bool, first_release: bool = False) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from payouts.models import PaymentBatch
    from payouts.services.batches import batch_create, batch_files_directory, batch_release

    reset(first_release)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*), SUM(net_minor) FROM payouts_earningline")
        lines, total = cursor.fetchone()
        cursor.execute("SELECT COUNT(*) FROM payouts_payee")  # warm the caches a little, untimed
    users = get_user_model().objects
    maker, releaser = users.get(username="bench-maker"), users.get(username="bench-releaser")
    result: dict = {"lines": lines, "total": int(total), "rss_start_mb": harness.memory_mb("VmRSS"),
                    "first_release": first_release}
    with tempfile.TemporaryDirectory(prefix="bench-batches-") as folder:
        result["csv_copy_bytes"], result["csv-copy"] = timed("csv-copy", backend,
                                                             lambda: csv_copy(Path(folder) / "copy.csv"))
        result["csv_decrypt_bytes"], result["csv-decrypt"] = timed("csv-decrypt", backend,
                                                                   lambda: csv_decrypt(Path(folder) / "plain.csv"))
        result["csv_batched_bytes"], result["csv-batched"] = timed(
            "csv-batched", backend, lambda: csv_batched(Path(folder) / "batched.csv"))
        assert filecmp.cmp(Path(folder) / "batched.csv", Path(folder) / "plain.csv", shallow=False)
    decrypted, result["decrypt-only"] = timed("decrypt-only (fetch + decrypt)", backend, decrypt_only)
    result["decrypt-only"].update(decrypted)
    log(f"    of which decrypting {decrypted['decrypt_seconds']:.1f} s")
    batch, result["create"] = timed("batch_create", backend,
                                    lambda: batch_create(currency="EUR", rail="sepa", actor=maker))
    assert (batch.payment_count, batch.control_total_minor) == (lines, int(total)), (batch.payment_count, total)
    if profile:
        result["profile"] = profile_release(batch, releaser)
    batch, result["release"] = timed("batch_release", backend, lambda: batch_release(
        batch_id=batch.pk, actor=releaser, expected_count=batch.payment_count,
        expected_total_minor=batch.control_total_minor))
    files = list(batch.files.order_by("name"))
    assert batch.status == PaymentBatch.Status.RELEASED
    assert sum(f.payments for f in files) == lines
    assert sum(f.control_total_minor for f in files) == int(total)
    directory = batch_files_directory(batch)
    result["files"] = len(files)
    result["files_bytes"] = sum(path.stat().st_size for path in directory.iterdir())
    result["first_file"] = files[0].name
    return result


def profile_release(batch, releaser) -> str:
    """The release under cProfile, rolled back (untimed): where its time goes."""
    import cProfile
    import io
    import pstats

    from django.db import transaction

    from payouts.services.batches import batch_release

    profiler = cProfile.Profile()
    try:
        with transaction.atomic():
            profiler.enable()
            batch_release(batch_id=batch.pk, actor=releaser, expected_count=batch.payment_count,
                          expected_total_minor=batch.control_total_minor)
            profiler.disable()
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


# =====================================================================================================
# Driver and report
# =====================================================================================================

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__.split("\n", 1)[0])
    parser.add_argument("--payees", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--per-file", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also cProfile the release (untimed)")
    parser.add_argument("--first-release", action="store_true",
                        help="close the partners' sent ledger accounts first: the release opens them all")
    parser.add_argument("--worker", choices=["load", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_benchmark(args: argparse.Namespace) -> int:
    measured = {}
    with tempfile.TemporaryDirectory(prefix="bench-batches-media-") as media:
        for payees in args.payees:
            env = worker_environment(args, payees, media)
            spec = {"payees": payees, "version": LOAD_VERSION}
            loaded = harness.prepare_worker_database(__file__, args, database_name(payees), env, spec,
                                                     "--count", str(payees))
            log(f"measuring {payees:,} payees")
            options = [*(["--profile"] if args.profile else []), *(["--first-release"] if args.first_release else [])]
            measured[payees] = harness.run_worker(__file__, env, "measure", *options)
            measured[payees]["load"] = loaded
    harness.write_report(REPORT_PATH, render_report(args, measured))
    return 0


def render_report(args: argparse.Namespace, measured: dict) -> str:
    accounts = ("A first release (it opens every partner's *sent* ledger account)" if args.first_release
                else "The partners' *sent* ledger accounts already open")
    lines = [
        "# Payment batches for a million payees",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')} on commit {harness.git('rev-parse', '--short', 'HEAD').strip()}, "
        f"{os.cpu_count()} cores (shared), {args.per_file:,} payments per SEPA file. Target: batch_create + "
        f"batch_release <= {TARGET_RATIO:g}x one CSV of the same plain rows; peak memory bounded by one file. "
        f"{accounts}; load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| payees | phase | wall s | CPU s (Python) | CPU s (database) | RSS before MB | peak RSS MB |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for payees, result in measured.items():
        for phase in ("csv-copy", "csv-decrypt", "csv-batched", "decrypt-only", "create", "release"):
            r = result[phase]
            lines.append(f"| {payees:,} | {phase} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                         f"{r['backend_cpu_seconds']:.1f} | {r['start_mb']:.0f} | {r['peak_mb']:.0f} |")
    lines += ["", "| payees | files | create + release s | / csv-decrypt (target) | / csv-batched | / csv-copy | "
              "decrypting s (2 per payee) |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for payees, result in measured.items():
        both = result["create"]["seconds"] + result["release"]["seconds"]
        ratio = both / result["csv-decrypt"]["seconds"]
        lines.append(f"| {payees:,} | {result['files']} | {both:.1f} | {ratio:.2f} "
                     f"({'ok' if ratio <= TARGET_RATIO else 'OVER'}) | "
                     f"{both / result['csv-batched']['seconds']:.2f} | {both / result['csv-copy']['seconds']:.1f} | "
                     f"{result['decrypt-only']['decrypt_seconds']:.1f} |")
    for payees, result in measured.items():
        if result.get("profile"):
            lines += ["", f"Release of {payees:,} under cProfile (untimed, rolled back):", "", "```",
                      result["profile"].strip(), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.benchmark_or_worker(args, run_benchmark, load=lambda: load(args.count),
                                       measure=lambda: measure(args.profile, args.first_release))


if __name__ == "__main__":
    sys.exit(main())
