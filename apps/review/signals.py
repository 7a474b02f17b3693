"""Domain events of a reviewed incident, for everything downstream of the review.

The review services send these after their transaction commits (never inside it), so
a receiver always sees the committed incident. Receivers (alerts by e-mail, dispatch
webhooks, the CAP feed) should only queue Celery tasks with the ids they are given.

- ``incident_published(incident_id)``: the review center published an alert.
- ``incident_updated(incident_id, change)``: new information on a published incident;
  ``change`` is one of ``UPDATE_KINDS``.
- ``incident_cancelled(incident_id)``: a published alert was withdrawn (reclassified
  as not gunfire).
"""

from django.dispatch import Signal

UPDATE_KINDS = ("comment", "reclassified", "location_moved")

incident_published = Signal()
incident_updated = Signal()
incident_cancelled = Signal()
