"""`manage.py train_classifier`: retrain the acoustic classifier from reviewed incidents.

Labels are the reviewers' current classifications (``selectors.training_label``): single
or multiple gunshots -> gunfire; not gunfire -> the class of its reason (firework and
firecracker -> firework, backfire, construction, other); possible gunfire is left out.
Features are rebuilt from each incident's stored shots and their pulses' features, the way
the pipeline classifies.

Held-out split: every fifth labelled incident in incident-id order (positions 5, 10, ...)
is held out; the rest train the new model. The new model and the currently installed one
are evaluated on the SAME held-out incidents, and the new one is installed (as the next
artifact version, which the pipeline loads as the newest) only when it is not worse:
its gunfire recall, gunfire precision and mean per-class recall are each at least the
current model's. ``--dry-run`` never installs. Too few labelled incidents (setting
``REVIEW_TRAIN_MIN_INCIDENTS``) or a single class is refused with a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.acoustics import classifier
from apps.review.conf import review_setting
from apps.review.selectors import training_examples

TOLERANCE = 1e-9


def held_out_split(examples: list) -> tuple[list, list]:
    """(train, held out): every fifth example in order is held out."""
    held = [e for i, e in enumerate(examples) if i % 5 == 4]
    train = [e for i, e in enumerate(examples) if i % 5 != 4]
    return train, held


def scores(report: dict) -> dict[str, float]:
    """The figures compared: gunfire recall and precision, mean recall of present classes
    (a figure that cannot be computed, e.g. nothing called gunfire, counts as 0)."""
    gunfire = report["gunfire"]
    recalls = [entry["recall"] or 0.0 for entry in report.values() if entry["n"]]
    return {
        "gunfire_recall": gunfire["recall"] or 0.0,
        "gunfire_precision": gunfire["precision"] or 0.0,
        "mean_recall": sum(recalls) / len(recalls) if recalls else 0.0,
    }


def not_worse(new: dict[str, float], current: dict[str, float]) -> bool:
    return all(new[name] >= current[name] - TOLERANCE for name in current)


def _fmt(value) -> str:
    return "  -  " if value is None else f"{value:5.3f}"


class Command(BaseCommand):
    help = (
        "Retrain the acoustic classifier from reviewed incidents and install it only when "
        "it is not worse than the current model on the same held-out incidents."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--artifact-dir",
            type=Path,
            default=classifier.ARTIFACT_DIR,
            help="where model versions are installed (default: the pipeline's)",
        )
        parser.add_argument("--l2", type=float, default=1e-2, help="L2 penalty on the weights")
        parser.add_argument(
            "--min-incidents",
            type=int,
            default=None,
            help="minimum labelled incidents (default: REVIEW_TRAIN_MIN_INCIDENTS)",
        )
        parser.add_argument("--dry-run", action="store_true", help="report; never install")

    def handle(self, *args, **options):
        if not options["l2"] > 0:
            raise CommandError("--l2 must be positive")
        minimum = options["min_incidents"]
        if minimum is None:
            minimum = int(review_setting("REVIEW_TRAIN_MIN_INCIDENTS"))
        examples, skipped = training_examples()
        for incident_id, why in skipped:
            self.stderr.write(f"skipped incident {incident_id}: {why}")
        if len(examples) < max(minimum, 5):
            raise CommandError(
                f"too few labelled incidents to retrain: {len(examples)} usable reviewed "
                f"incidents, at least {max(minimum, 5)} needed (decide more incidents, or "
                "lower REVIEW_TRAIN_MIN_INCIDENTS)"
            )
        train, held = held_out_split(examples)
        labels = sorted({e.label for e in train})
        if len(labels) < 2:
            raise CommandError(
                f"the reviewed incidents hold one class only ({labels[0]}); training needs "
                "at least two"
            )
        directory: Path = options["artifact_dir"]
        versions = classifier.installed_versions(directory) if directory.is_dir() else []
        current = None
        if versions:
            try:
                current = classifier.load_model(directory=directory)
            except classifier.ClassifierError as error:
                raise CommandError(f"the current model cannot be loaded: {error}") from None
        version = classifier.next_version(directory)
        pairs = [(e.features, e.label) for e in train]
        test_pairs = [(e.features, e.label) for e in held]
        try:
            model = classifier.train(
                examples=pairs,
                version=version,
                l2=options["l2"],
                training_set={
                    "source": "reviewed incidents (apps.review)",
                    "incidents": [e.incident_id for e in train],
                },
            )
            new_report = classifier.evaluate(model, test_pairs)
            current_report = classifier.evaluate(current, test_pairs) if current else None
        except classifier.ClassifierError as error:
            raise CommandError(str(error)) from None
        model.evaluation = {
            "held_out": "every 5th reviewed incident by id",
            "held_out_incidents": [e.incident_id for e in held],
            "per_class": new_report,
            "previous_version": current.version if current else None,
            "previous_per_class": current_report,
        }

        self.stdout.write(
            f"{len(examples)} labelled incidents: trained on {len(train)}, "
            f"held out {len(held)} (every 5th by incident id)"
        )
        self.stdout.write(self._table(new_report, current_report, current))
        new_scores = scores(new_report)
        current_scores = scores(current_report) if current_report else None
        for name, value in new_scores.items():
            before = f"{current_scores[name]:.3f}" if current_scores else "-"
            self.stdout.write(f"{name}: new {value:.3f}, current {before}")
        better = current_scores is None or not_worse(new_scores, current_scores)
        if options["dry_run"]:
            verdict = "would install" if better else "would NOT install (worse)"
            self.stdout.write(f"dry run: {verdict}; nothing written")
            return
        if not better:
            self.stdout.write(
                f"not installed: the new model is worse than version {current.version} "
                "on the held-out incidents"
            )
            return
        try:
            path = classifier.save_model(model, directory=directory)
        except classifier.ClassifierError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"installed {path} (version {version})")
        from django.conf import settings

        pinned = getattr(settings, "INCIDENT_CLASSIFIER_PATH", "")
        if pinned:
            self.stderr.write(
                f"note: INCIDENT_CLASSIFIER_PATH pins the pipeline to {pinned}; "
                "clear it to use the newest installed version"
            )

    def _table(self, new: dict, current: dict | None, current_model) -> str:
        name = f"v{current_model.version}" if current_model else "none"
        lines = [
            f"{'class':<13} {'n':>3}  new P  new R   {name} P  {name} R",
        ]
        for cls in classifier.CLASSES:
            entry = new[cls]
            old = current[cls] if current else {"precision": None, "recall": None}
            lines.append(
                f"{cls:<13} {entry['n']:>3}  {_fmt(entry['precision'])}  {_fmt(entry['recall'])}"
                f"   {_fmt(old['precision'])}  {_fmt(old['recall'])}"
            )
        return "\n".join(lines)
