"""`manage.py train_acoustic_classifier`: train the incident classifier, write a new version.

Training data are either generated scenarios (seed ranges; association and location from
the truth) or a folder of labelled incident JSON files (reviewer decisions). Held-out
precision/recall per class are printed and stored in the artifact.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.acoustics import classifier
from apps.acoustics.generator import GENERATOR_VERSION


def _seed_range(text: str) -> range:
    try:
        low, high = (int(part) for part in text.split(":"))
    except ValueError:
        raise CommandError(f"seed range {text!r} must look like START:STOP") from None
    if not 0 <= low < high:
        raise CommandError(f"seed range {text!r} must satisfy 0 <= START < STOP")
    return range(low, high)


def _read_incident_folder(folder: Path) -> list[tuple[dict, str]]:
    if not folder.is_dir():
        raise CommandError(f"{folder}: no such folder")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise CommandError(f"{folder}: no *.json labelled incident files")
    examples = []
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CommandError(f"{path}: cannot read JSON ({error})") from None
        records = data if isinstance(data, list) else [data]
        for index, record in enumerate(records):
            try:
                examples.append(classifier.labelled_example(record, where=f"{path}[{index}]"))
            except classifier.ClassifierError as error:
                raise CommandError(str(error)) from None
    return examples


class Command(BaseCommand):
    help = "Train the acoustic incident classifier and write a new versioned artifact."
    # Pure numerical work: no database, so other apps' model checks are irrelevant here.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--incidents", type=Path, help="folder of labelled incident JSON")
        parser.add_argument(
            "--test-incidents", type=Path, help="held-out labelled incident JSON folder"
        )
        parser.add_argument("--train-seeds", default="0:10", help="generated training seeds")
        parser.add_argument("--test-seeds", default="1000:1006", help="generated held-out seeds")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument(
            "--l2", type=float, help="L2 penalty (default: chosen by 5-fold cross-validation)"
        )
        parser.add_argument("--artifact-dir", type=Path, default=classifier.ARTIFACT_DIR)
        parser.add_argument("--artifact-version", type=int, help="artifact version (default: next)")
        parser.add_argument(
            "--cache", type=Path, help="folder to keep generated feature sets between runs"
        )
        parser.add_argument("--dry-run", action="store_true", help="report, do not write")

    def _generated(self, seeds: range, *, workers: int, cache: Path | None) -> list:
        from apps.acoustics.generator.labelled import feature_set

        name = f"features_g{GENERATOR_VERSION}_{seeds.start}_{seeds.stop}.json"
        if cache is not None and (cache / name).is_file():
            rows = json.loads((cache / name).read_text(encoding="utf-8"))
            return [(features, label) for features, label, _ in rows]
        self.stdout.write(f"generating scenarios for seeds {seeds.start}:{seeds.stop} ...")
        rows = feature_set(seeds=seeds, workers=workers)
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            (cache / name).write_text(json.dumps(rows), encoding="utf-8")
        return [(features, label) for features, label, _ in rows]

    def handle(self, *args, **options):
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        if options["l2"] is not None and not options["l2"] > 0:
            raise CommandError("--l2 must be positive")
        if options["incidents"] is not None:
            train_examples = _read_incident_folder(options["incidents"])
            description = {"source": "labelled incidents", "folder": str(options["incidents"])}
        else:
            seeds = _seed_range(options["train_seeds"])
            train_examples = self._generated(
                seeds, workers=options["workers"], cache=options["cache"]
            )
            description = {
                "source": "generated scenarios (truth association, 4 m location error)",
                "generator_version": GENERATOR_VERSION,
                "seeds": f"{seeds.start}:{seeds.stop}",
            }
        if options["test_incidents"] is not None:
            test_examples = _read_incident_folder(options["test_incidents"])
            test_source = str(options["test_incidents"])
        elif options["incidents"] is not None:
            # Every fifth reviewed incident is held out.
            test_examples = train_examples[4::5]
            train_examples = [e for i, e in enumerate(train_examples) if i % 5 != 4]
            test_source = "every 5th labelled incident"
        else:
            test_seeds = _seed_range(options["test_seeds"])
            if set(test_seeds) & set(_seed_range(options["train_seeds"])):
                raise CommandError("training and held-out seeds overlap")
            test_examples = self._generated(
                test_seeds, workers=options["workers"], cache=options["cache"]
            )
            test_source = f"generated seeds {test_seeds.start}:{test_seeds.stop}"
        if not test_examples:
            raise CommandError("no held-out incidents to evaluate on")
        directory = options["artifact_dir"]
        versions = classifier.installed_versions(directory) if directory.is_dir() else []
        version = options["artifact_version"] or (versions[-1] + 1 if versions else 1)
        try:
            l2 = options["l2"]
            if l2 is None:
                l2, scores = classifier.select_l2(train_examples)
                description["l2_cross_validation"] = {str(k): v for k, v in scores.items()}
                self.stdout.write(f"L2 penalty {l2:g} chosen by 5-fold cross-validation")
            description["l2"] = l2
            model = classifier.train(
                examples=train_examples, version=version, l2=l2, training_set=description
            )
            report = classifier.evaluate(model, test_examples)
        except classifier.ClassifierError as error:
            raise CommandError(str(error)) from None
        model.evaluation = {"held_out": test_source, "per_class": report}
        self.stdout.write(
            f"trained on {len(train_examples)} incidents, held out {len(test_examples)} "
            f"({test_source})"
        )
        self.stdout.write(format_report(report))
        if options["dry_run"]:
            self.stdout.write("dry run: no artifact written")
            return
        try:
            path = classifier.save_model(model, directory=directory)
        except classifier.ClassifierError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"wrote {path} (version {version})")


def format_report(report: dict) -> str:
    def cell(value):
        return "   -  " if value is None else f"{value:6.3f}"

    lines = [f"{'class':<13} {'n':>4} {'precision':>9} {'recall':>7} {'called gunfire':>14}"]
    for name, row in report.items():
        lines.append(
            f"{name:<13} {row['n']:>4} {cell(row['precision']):>9} {cell(row['recall']):>7} "
            f"{cell(row['called_gunfire']):>14}"
        )
    return "\n".join(lines)
