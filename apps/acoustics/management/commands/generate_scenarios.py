"""`manage.py generate_scenarios OUTDIR --kind K --count N --seed S`: synthetic test folders.

Each scenario becomes OUTDIR/<kind>_<seed>/ with `<name>.allpulses.json` (+ `features`
per pulse), `<name>.weather.json` and `<name>.truth.json`, the live-fire layout.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.acoustics.generator import SCENARIO_KINDS, Options, generate_scenario, write_scenario


class Command(BaseCommand):
    help = "Generate synthetic acoustic scenarios in the live-fire folder layout."
    # Pure numerical work: no database, so other apps' model checks are irrelevant here.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("outdir", type=Path)
        parser.add_argument(
            "--kind",
            action="append",
            choices=[*SCENARIO_KINDS, "all"],
            help="scenario kind (repeatable; 'all' = every kind); default single_shot",
        )
        parser.add_argument("--count", type=int, default=1, help="scenarios per kind")
        parser.add_argument("--seed", type=int, default=0, help="first seed")
        parser.add_argument(
            "--timing-only",
            action="store_true",
            help="Gaussian onset noise only: no echoes, diffraction, rounding, wind, dropouts",
        )
        parser.add_argument("--dense-echoes", action="store_true", help="twice the facades")

    def handle(self, *args, **options):
        outdir: Path = options["outdir"]
        count, seed = options["count"], options["seed"]
        if count < 1 or count > 10_000:
            raise CommandError("--count must be between 1 and 10000")
        if seed < 0:
            raise CommandError("--seed must be a non-negative integer")
        if outdir.exists() and not outdir.is_dir():
            raise CommandError(f"{outdir} exists and is not a folder")
        kinds = options["kind"] or ["single_shot"]
        if "all" in kinds:
            kinds = list(SCENARIO_KINDS)
        opts = Options.timing_only() if options["timing_only"] else Options()
        if options["dense_echoes"]:
            opts.dense_echoes = True
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CommandError(f"{outdir}: cannot create ({error.strerror or error})") from None
        for kind in kinds:
            for offset in range(count):
                scenario = generate_scenario(kind=kind, seed=seed + offset, options=opts)
                folder = write_scenario(scenario, outdir)
                shots = len(scenario.truth["shots"])
                self.stdout.write(f"{folder}: {shots} emissions, {len(scenario.pulses)} pulses")
