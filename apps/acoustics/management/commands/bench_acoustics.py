"""`manage.py bench_acoustics`: the acoustic benchmarks behind `make bench`.

Live-fire (Pittsburgh, TN 098) when the data are present, synthetic location against the
Cramér-Rao bound, synthetic association, and part B's synthetic classifier/generator
benchmark (`apps.acoustics.bench.synthetic.run`) when that module exists.
"""

from __future__ import annotations

import importlib
import inspect
import time
from pathlib import Path

from django.core.management.base import BaseCommand

from apps.acoustics.bench import livefire, location_synthetic


class Command(BaseCommand):
    help = "Print the acoustic benchmark tables (live-fire data, synthetic location/association)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            type=Path,
            default=None,
            help="live-fire folder (default: $SHOTSPOTTER_SHARED_DATA or "
            "../shared/data, /pittsburgh-live-fire)",
        )
        parser.add_argument("--quick", action="store_true", help="smaller samples, faster")
        parser.add_argument(
            "--only",
            choices=["livefire", "location", "association", "synthetic"],
            action="append",
            help="run only these parts (repeatable)",
        )

    def handle(self, *args, **options):
        quick, data, only = options["quick"], options["data"], options["only"]
        # A missing data folder skips the live-fire part (with a message) rather than
        # failing: the synthetic benchmarks still run where the shared data is absent.

        def out(line: str = "") -> None:
            self.stdout.write(line)

        def wanted(part: str) -> bool:
            return only is None or part in only

        started = time.perf_counter()
        if wanted("livefire"):
            livefire.run(data=data, quick=quick, out=out)
            out()
        if wanted("location"):
            location_synthetic.run(quick=quick, out=out)
            out()
        if wanted("association"):
            location_synthetic.run_association(quick=quick, out=out)
            out()
        if wanted("synthetic"):
            self._run_part_b(quick=quick, out=out)
        out(f"benchmarks took {time.perf_counter() - started:.1f} s")

    def _run_part_b(self, *, quick: bool, out) -> None:
        try:
            module = importlib.import_module("apps.acoustics.bench.synthetic")
        except ModuleNotFoundError as error:
            if error.name != "apps.acoustics.bench.synthetic":
                raise
            out("synthetic classifier/generator benchmark: not available (skipped)")
            return
        run = getattr(module, "run", None)
        if run is None:
            out("apps.acoustics.bench.synthetic has no run(): skipped")
            return
        accepted = inspect.signature(run).parameters
        kwargs = {k: v for k, v in (("quick", quick), ("out", out)) if k in accepted}
        run(**kwargs)
