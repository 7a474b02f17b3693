"""`manage.py train_acoustic_classifier`: train the incident classifier, write a new version.

Training data are either generated scenarios (seed ranges; association and location from
the truth, plus with --live-association the incidents the real association and bundling
make of them; or --train-scenarios, scenario seeds per kind, which uses both views) or a
folder of labelled incident JSON files (reviewer decisions). The model is quadratic
logistic regression or (--model boosted) gradient-boosted trees. The L2 penalty and the
gunfire threshold (the operating point) are chosen by 5-fold cross-validation on the
training incidents only (folds by scenario; with --train-scenarios the threshold is
chosen on the out-of-fold live-chain incidents). Held-out precision/recall per class are
printed and stored in the artifact.

Artifacts v4 and v5 were made with `--train-scenarios ... --model boosted`;
docs/benchmarks.md gives the exact commands.
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
        parser.add_argument(
            "--train-scenarios",
            help="training scenarios per kind instead of --train-seeds, as "
            "kind=START:STOP,... (scenario seeds; both the truth-grouped and the live-chain "
            "incidents are used, the operating point is chosen on the live-chain ones)",
        )
        parser.add_argument(
            "--test-scenarios",
            help="held-out scenarios per kind instead of --test-seeds (kind=START:STOP,...); "
            "their live-chain incidents are evaluated",
        )
        parser.add_argument(
            "--model",
            choices=("logistic", "boosted"),
            default="logistic",
            help="quadratic logistic regression, or gradient-boosted trees",
        )
        parser.add_argument(
            "--features",
            choices=("v1", "v4", "all"),
            default="all",
            help="the incident features of artifacts v1-v3, of v4 (with directivity), or all "
            "(v5: also the level scatter of pulses of different bangs)",
        )
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument(
            "--live-association",
            action="store_true",
            help="also use the incidents the real association and bundling make of the "
            "generated scenarios (what the pipeline classifies)",
        )
        parser.add_argument(
            "--l2", type=float, help="L2 penalty (default: chosen by 5-fold cross-validation)"
        )
        parser.add_argument(
            "--gunfire-threshold",
            type=float,
            help="call gunfire when P(gunfire) reaches this (default: chosen by "
            "cross-validation for at most 1%% of each confuser class called gunfire)",
        )
        parser.add_argument("--artifact-dir", type=Path, default=classifier.ARTIFACT_DIR)
        parser.add_argument("--artifact-version", type=int, help="artifact version (default: next)")
        parser.add_argument(
            "--cache", type=Path, help="folder to keep generated feature sets between runs"
        )
        parser.add_argument("--dry-run", action="store_true", help="report, do not write")

    def _generated(
        self, seeds: range, *, workers: int, cache: Path | None, live: bool = False
    ) -> list:
        """(features, label, scenario name) of generated incidents: truth-grouped, plus with
        live=True the incidents the real association and bundling make of the same
        scenarios."""
        from apps.acoustics.generator.associated import training_feature_sets
        from apps.acoustics.generator.labelled import feature_set

        name = f"features_g{GENERATOR_VERSION}_{seeds.start}_{seeds.stop}.json"
        live_name = f"live_{name}"
        paths = [cache / name, cache / live_name] if cache is not None else []
        if paths and all(p.is_file() for p in paths[: 2 if live else 1]):
            rows = json.loads(paths[0].read_text(encoding="utf-8"))
            if live:
                rows += json.loads(paths[1].read_text(encoding="utf-8"))
            return [(row[0], row[1], row[2]) for row in rows]
        self.stdout.write(f"generating scenarios for seeds {seeds.start}:{seeds.stop} ...")
        if live:
            rows, items = training_feature_sets(seeds=seeds, workers=workers)
            live_rows = [[i.features, i.label, i.scenario, i.kind] for i in items]
        else:
            rows, live_rows = feature_set(seeds=seeds, workers=workers), []
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            paths[0].write_text(json.dumps(rows), encoding="utf-8")
            if live:
                paths[1].write_text(json.dumps(live_rows), encoding="utf-8")
        return [(row[0], row[1], row[2]) for row in [*rows, *live_rows]]

    def _by_kind(self, spec: str, *, workers: int, cache: Path | None) -> list:
        """(features, label, scenario name, live?) of generated scenarios given per kind:
        their truth-grouped incidents and the incidents of the real association and
        bundling. The cache file is named by a digest of the normalised spec."""
        import hashlib

        from apps.acoustics.generator.associated import (
            format_scenarios,
            parse_scenarios,
            scenario_feature_sets,
        )

        try:
            scenarios = parse_scenarios(spec)
        except ValueError as error:
            raise CommandError(str(error)) from None
        text = format_scenarios(scenarios)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        path = cache / f"scenarios_g{GENERATOR_VERSION}_{digest}.json" if cache else None
        if path is not None and path.is_file():
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("scenarios") != text:
                raise CommandError(f"{path} holds other scenarios; remove it")
        else:
            self.stdout.write(f"generating scenarios {text} ...")
            truth, live = scenario_feature_sets(scenarios=scenarios, workers=workers)
            record = {
                "scenarios": text,
                "truth": [list(row) for row in truth],
                "live": [[i.features, i.label, i.scenario] for i in live],
            }
            if path is not None:
                cache.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(record), encoding="utf-8")
        return [(f, label, name, False) for f, label, name in record["truth"]] + [
            (f, label, name, True) for f, label, name in record["live"]
        ]

    def handle(self, *args, **options):
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        if options["l2"] is not None and not options["l2"] > 0:
            raise CommandError("--l2 must be positive")
        threshold = options["gunfire_threshold"]
        if threshold is not None and not 0 < threshold < 1:
            raise CommandError("--gunfire-threshold must be between 0 and 1")
        if (
            options["incidents"] is None
            and options["test_incidents"] is None
            and not (options["train_scenarios"] or options["test_scenarios"])
        ):
            # Checked before anything is generated (that takes minutes).
            if set(_seed_range(options["test_seeds"])) & set(_seed_range(options["train_seeds"])):
                raise CommandError("training and held-out seeds overlap")
        feature_names = {
            "v1": classifier.INCIDENT_FEATURE_NAMES_V1,
            "v4": classifier.INCIDENT_FEATURE_NAMES_V4,
        }.get(options["features"], classifier.INCIDENT_FEATURE_NAMES)
        operating_rows = None
        if options["incidents"] is not None:
            train_examples = _read_incident_folder(options["incidents"])
            groups = None
            description = {"source": "labelled incidents", "folder": str(options["incidents"])}
        elif options["train_scenarios"]:
            rows = self._by_kind(
                options["train_scenarios"], workers=options["workers"], cache=options["cache"]
            )
            train_examples = [(features, label) for features, label, _, _ in rows]
            groups = [scenario for _, _, scenario, _ in rows]
            operating_rows = [live for _, _, _, live in rows]
            description = {
                "source": "generated scenarios: truth-grouped incidents (4 m location error) "
                "and the incidents of the real association and bundling; operating point "
                "chosen on the latter",
                "generator_version": GENERATOR_VERSION,
                "scenarios": options["train_scenarios"],
            }
        else:
            seeds = _seed_range(options["train_seeds"])
            live = options["live_association"]
            rows = self._generated(
                seeds, workers=options["workers"], cache=options["cache"], live=live
            )
            train_examples = [(features, label) for features, label, _ in rows]
            # Cross-validation folds by scenario: its incidents are related.
            groups = [scenario for _, _, scenario in rows]
            description = {
                "source": "generated scenarios (truth association, 4 m location error)"
                + (" and their incidents from the real association and bundling" if live else ""),
                "generator_version": GENERATOR_VERSION,
                "seeds": f"{seeds.start}:{seeds.stop}",
            }
        if options["test_incidents"] is not None:
            test_examples = _read_incident_folder(options["test_incidents"])
            test_source = str(options["test_incidents"])
        elif options["test_scenarios"]:
            rows = self._by_kind(
                options["test_scenarios"], workers=options["workers"], cache=options["cache"]
            )
            train_names = set(groups or ())
            if train_names & {scenario for _, _, scenario, _ in rows}:
                raise CommandError("training and held-out scenarios overlap")
            test_examples = [(f, label) for f, label, _, live in rows if live]
            test_source = f"live-chain incidents of generated {options['test_scenarios']}"
        elif options["incidents"] is not None:
            # Every fifth reviewed incident is held out.
            test_examples = train_examples[4::5]
            train_examples = [e for i, e in enumerate(train_examples) if i % 5 != 4]
            test_source = "every 5th labelled incident"
        else:
            test_seeds = _seed_range(options["test_seeds"])
            test_examples = [
                (features, label)
                for features, label, _ in self._generated(
                    test_seeds,
                    workers=options["workers"],
                    cache=options["cache"],
                    live=options["live_association"],
                )
            ]
            test_source = f"generated seeds {test_seeds.start}:{test_seeds.stop}"
        if not test_examples:
            raise CommandError("no held-out incidents to evaluate on")
        directory = options["artifact_dir"]
        version = options["artifact_version"] or classifier.next_version(directory)
        try:
            l2, threshold = options["l2"], options["gunfire_threshold"]
            boosted = options["model"] == "boosted"
            model_options = {
                "feature_names": feature_names,
                "kind": classifier.BOOSTED_TREES if boosted else classifier.LOGISTIC,
            }
            if boosted:
                l2 = 1.0  # unused by boosted trees (their options are BoostingOptions())
                description["boosting"] = vars(classifier.BoostingOptions())
            if l2 is None or threshold is None:
                candidates = (l2,) if l2 is not None else classifier.L2_CANDIDATES
                l2, chosen, scores = classifier.select_operating_point(
                    train_examples,
                    l2_candidates=candidates,
                    groups=groups,
                    operating_rows=operating_rows,
                    **model_options,
                )
                threshold = chosen if threshold is None else threshold
                description["cross_validation"] = {str(k): v for k, v in scores.items()}
                self.stdout.write(
                    f"L2 penalty {l2:g} and gunfire threshold {threshold:g} chosen by 5-fold "
                    "cross-validation on the training incidents"
                )
            description["l2"] = l2
            model = classifier.train(
                examples=train_examples,
                version=version,
                l2=l2,
                training_set=description,
                **model_options,
            )
            model.gunfire_threshold = threshold
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
