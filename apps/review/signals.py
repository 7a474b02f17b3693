"""Domain events of a reviewed incident, for everything downstream of the review.

The review services send these inside the transaction that makes the change, with the
incident locked and the decision saved, so what a receiver records commits with the
change or not at all (the alert message and its deliveries: a published incident can
never be left without its alert). A receiver writes rows in that transaction and queues
slow work (SMTP, HTTP) with ``transaction.on_commit(..., robust=True)``, which runs only
after the commit and whose failure must never undo or fail the change.

- ``incident_published(incident_id)``: the review center published an alert.
- ``incident_updated(incident_id, change, reason="")``: new information on a published
  incident; ``change`` is one of ``UPDATE_KINDS``; ``reason`` is the reviewer's reason for
  a reclassification or the text of a comment (the alert repeats it).
- ``incident_cancelled(incident_id, reason="")``: a published alert was withdrawn
  (reclassified as not gunfire); ``reason`` is the reviewer's reason.
"""

from django.dispatch import Signal

UPDATE_KINDS = ("comment", "reclassified", "location_moved")

incident_published = Signal()
incident_updated = Signal()
incident_cancelled = Signal()
