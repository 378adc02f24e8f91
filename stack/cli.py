"""The ``ventes`` command line."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence

from ventes import settings as settings_module
from ventes.errors import VentesError
from ventes.settings import SettingsError

DESCRIPTION = """\
Sales analytics on a local stack: Kafka -> Bronze Delta (Spark) -> Silver (dbt on the Spark
Thrift Server) -> dashboard. Configuration comes from environment variables (see README).
"""

EPILOG = """\
typical session:
  ventes up                  start Kafka, the Spark Thrift Server and the dashboard
  ventes produce --count 50  send 50 fake sales to Kafka
  ventes run                 ingest into Bronze, then dbt build the Silver tables
  ventes status              what runs, where, and its log file
  ventes down                stop what 'ventes up' started
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}")
    return value


def _service_name(text: str) -> str:
    """A service of the local stack (the names ``stack.processes`` knows)."""
    from stack.processes import SERVICES

    known = [svc.name for svc in SERVICES]
    if text not in known:
        raise argparse.ArgumentTypeError(f"unknown service {text!r}; known: {', '.join(known)}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ventes",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, what in (
        ("up", "start the local stack (idempotent; waits until each answers)"),
        ("down", "stop what 'ventes up' started"),
    ):
        sub.add_parser(name, help=what).add_argument(
            "services", nargs="*", type=_service_name, metavar="SERVICE", help="only these (default: all)"
        )
    sub.add_parser("status", help="each service, its pid, address, health, memory and log")

    produce = sub.add_parser("produce", help="send fake sales to Kafka")
    produce.add_argument("--count", type=_positive_int, default=50, help="events to send (default 50)")
    produce.add_argument(
        "--seed", type=_integer, default=None, help="same seed, same events (vente_id aside)"
    )
    produce.add_argument(
        "--rate", type=_positive_number, default=None, help="events per second (default: as fast as possible)"
    )
    produce.add_argument(
        "--bad-ratio", type=_ratio, default=0.0, help="share of bad records mixed in, 0..1 (default 0)"
    )

    ingest = sub.add_parser("ingest", help="Kafka -> Bronze Delta table (drain and stop)")
    ingest.add_argument(
        "--follow", action="store_true", help="keep streaming in micro-batches until interrupted"
    )
    ingest.add_argument(
        "--skip-lost-offsets",
        action="store_true",
        help="after Kafka retention deleted offsets not yet ingested: accept the gap and go on",
    )

    sub.add_parser("transform", help="dbt build: the Silver tables and their tests")
    sub.add_parser("run", help="ingest, then transform, once")
    docs = sub.add_parser("docs", help="generate the dbt docs and serve them")
    docs.add_argument("--no-serve", action="store_true", help="only generate them")
    return parser


def _print_status(settings: settings_module.Settings) -> None:
    from stack import processes

    rows = processes.status(settings)
    print(f"{'service':<10} {'pid':>7}  {'address':<22} {'health':<14} {'rss':>7}  log")
    for r in rows:
        pid = r["pid"] or "-"
        print(
            f"{r['service']:<10} {pid:>7}  {r['address']:<22} {r['health']:<14} "
            f"{r['rss_mb']:>5}MB  {r['log']}"
        )


def dispatch(args: argparse.Namespace) -> int:
    settings = settings_module.load()
    if args.command not in ("down", "status"):
        settings.make_home()
    if args.command == "up":
        from stack import processes

        processes.up(settings, args.services or None)
        print("stop with: ventes down")
    elif args.command == "down":
        from stack import processes

        processes.down(settings, args.services or None)
    elif args.command == "status":
        _print_status(settings)
    elif args.command == "produce":
        from ingestion.producer import produce

        produce(settings, count=args.count, seed=args.seed, rate=args.rate, bad_ratio=args.bad_ratio)
    elif args.command == "ingest":
        from ingestion.job import ingest

        ingest(settings, follow=args.follow, skip_lost_offsets=args.skip_lost_offsets)
    elif args.command == "transform":
        from transformation import dbt

        dbt.build(settings)
    elif args.command == "run":
        from ingestion.job import ingest
        from transformation import dbt

        begin = time.monotonic()
        ingest(settings)
        dbt.build(settings)
        print(f"run finished in {time.monotonic() - begin:.1f}s")
    elif args.command == "docs":
        from transformation import dbt

        dbt.docs(settings, serve=not args.no_serve)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Bad arguments and bad settings exit 2, other failures 1, each one line."""
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"ventes {args.command}: error: {problem}", file=sys.stderr)
        return 2
    except VentesError as exc:
        print(f"ventes {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ventes {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
