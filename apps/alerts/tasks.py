"""Celery tasks of alerts: they receive ids only and call services."""

from __future__ import annotations

from celery import shared_task

from apps.alerts import services


@shared_task(name="alerts.record_message", acks_late=True)
def record_message(
    event_uuid: str, incident_id: int, kind: str, change: str = "", reason: str = ""
) -> int:
    message = services.alert_message_record(
        event_uuid=event_uuid, incident_id=incident_id, kind=kind, change=change, reason=reason
    )
    return message.pk


@shared_task(name="alerts.create_emails", acks_late=True)
def create_emails(message_id: int) -> int:
    return len(services.alert_emails_create(message_id=message_id))


@shared_task(name="alerts.send_emails", acks_late=True)
def send_emails(notification_ids: list[int]) -> dict:
    return services.emails_send(notification_ids=notification_ids)


@shared_task(name="alerts.deliver_webhook", acks_late=True)
def deliver_webhook(delivery_id: int) -> str | None:
    delivery = services.webhook_deliver(delivery_id=delivery_id)
    return delivery.status if delivery else None


@shared_task(name="alerts.requeue_stalled")
def requeue_stalled() -> int:
    return services.requeue_stalled()
