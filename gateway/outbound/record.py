"""Recording what a send did: accepted parts, the finished delivery, retries and failures."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from channels import Choice, DeliveryStatus, SendError
from gateway.backoff import Uniform, next_delivery_attempt
from gateway.clock import now
from gateway.domain.delivery_status import advance, aggregate, apply_early_statuses, fail_delivery
from gateway.domain.directory import Directory
from gateway.domain.opt_out import set_opt_out
from gateway.store.models import DeliveryPartRow, DeliveryRow, EarlyStatusRow, MenuRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of a delivery after a failed attempt."""

    failed: bool
    next_attempt_at: datetime | None = None


def part_recorder(
    message_id: str,
    index: int,
    total: int,
    provider_message_id: str,
    status: DeliveryStatus,
    lease: timedelta,
    handed_over_at: datetime,
    directory: Directory,
) -> Callable[[Session], None]:
    """A write that stores one accepted part and renews the claim on the rest.

    `handed_over_at` is when the part went to the provider: the earliest time the provider can
    have stamped it, which read and delivery watermarks are compared with. Statuses the
    provider reported before its answer reached us are applied here.
    """

    def record(session: Session) -> None:
        delivery = session.get(DeliveryRow, message_id)
        if delivery is None:
            return
        known = session.exec(
            select(DeliveryPartRow).where(
                DeliveryPartRow.channel_id == delivery.channel_id,
                DeliveryPartRow.provider_message_id == provider_message_id,
            )
        ).first()
        if known is None:
            session.add(
                DeliveryPartRow(
                    message_id=message_id,
                    channel_id=delivery.channel_id,
                    part_index=index,
                    provider_message_id=provider_message_id,
                    status=status.value,
                )
            )
        delivery.parts_total = max(delivery.parts_total, total)
        delivery.parts_sent = max(delivery.parts_sent, index + 1)
        ids = list(delivery.provider_message_ids or [])
        if provider_message_id not in ids:
            delivery.provider_message_ids = [*ids, provider_message_id]
        delivery.claimed_until = now() + lease
        delivery.accepted_at = handed_over_at
        apply_kept_statuses(
            session, delivery.channel_id, provider_message_id, delivery.recipient, directory
        )

    return record


def apply_kept_statuses(
    session: Session,
    channel_id: str,
    provider_message_id: str,
    recipient: str | None,
    directory: Directory,
) -> int:
    """Apply the statuses kept for a part the provider reported on before it was recorded,
    and the opt-out one of them carried (for `recipient`); answers how many."""
    kept = apply_early_statuses(session, channel_id, provider_message_id, directory)
    if recipient is not None and any(row.opted_out for row in kept):
        set_opt_out(session, channel_id, recipient, True, "provider", directory)
    return len(kept)


#: kept statuses one run of `kept_status_settler` applies at most; more wait for the next run
KEPT_PER_RUN = 500

#: the kept statuses whose part has been recorded since: a search of each part by its key
_RECORDED_SINCE = (
    select(
        EarlyStatusRow.channel_id, EarlyStatusRow.provider_message_id, DeliveryPartRow.message_id
    )
    .join(
        DeliveryPartRow,
        and_(
            col(DeliveryPartRow.channel_id) == col(EarlyStatusRow.channel_id),
            col(DeliveryPartRow.provider_message_id) == col(EarlyStatusRow.provider_message_id),
        ),
    )
    .distinct()
    .limit(KEPT_PER_RUN)
)


def kept_statuses_recorded(session: Session) -> bool:
    """Whether a status is kept for a part that has been recorded since (a read, cheap:
    the kept statuses are few and each part is found by its key)."""
    return session.exec(_RECORDED_SINCE.limit(1)).first() is not None


def kept_status_settler(directory: Directory) -> Callable[[Session], int]:
    """A write that applies the kept statuses whose part has been recorded since; how many.

    On PostgreSQL a status callback can reach one node while another node is recording the
    send it reports on. Neither transaction sees the other's row before it commits: the
    status is kept for later, and the record finds nothing kept to apply. Left alone, the
    delivery would stay SENT and the status would expire an hour later. One node alone
    cannot get there: its writer commits the two one after the other."""

    def settle(session: Session) -> int:
        settled = 0
        for channel_id, provider_message_id, message_id in session.exec(_RECORDED_SINCE).all():
            delivery = session.get(DeliveryRow, message_id)
            recipient = delivery.recipient if delivery is not None else None
            settled += apply_kept_statuses(
                session, channel_id, provider_message_id, recipient, directory
            )
        return settled

    return settle


def finisher(
    message_id: str, menu: Sequence[Choice], directory: Directory
) -> Callable[[Session], None]:
    """A write that marks a delivery whose every part was accepted (or that had none)."""

    def finish(session: Session) -> None:
        delivery = session.get(DeliveryRow, message_id)
        if delivery is None:
            return
        stamp = now()
        delivery.claimed_until = None
        delivery.next_attempt_at = None
        if delivery.accepted_at is None:
            delivery.accepted_at = stamp
        if delivery.status != DeliveryStatus.FAILED.value:
            delivery.error_code = delivery.error_message = None
        parts = list(
            session.exec(select(DeliveryPartRow).where(DeliveryPartRow.message_id == message_id))
        )
        # provider callbacks may have moved some parts on already: the message is as far as
        # its slowest part, and failed when any part failed
        reached = aggregate(parts, delivery)
        if reached is DeliveryStatus.FAILED:
            failed = next(p for p in parts if p.status == DeliveryStatus.FAILED.value)
            if not fail_delivery(
                session,
                delivery,
                failed.error_code or "PROVIDER_FAILED",
                failed.error_message or "the provider could not deliver the message",
                directory,
            ):
                delivery.updated_at = stamp
        else:
            if reached is None or reached is DeliveryStatus.PENDING:
                reached = DeliveryStatus.SENT
            if not advance(session, delivery, reached):
                delivery.updated_at = stamp
        if menu and delivery.status != DeliveryStatus.FAILED.value:
            _remember_menu(session, delivery, menu, stamp)

    return finish


def _remember_menu(
    session: Session, delivery: DeliveryRow, menu: Sequence[Choice], stamp: datetime
) -> None:
    """The numbered choices just sent replace the conversation's previous menu there."""
    choices = [{"label": c.label, "interactionId": c.interaction_id} for c in menu]
    row = session.get(MenuRow, (delivery.conversation_id, delivery.channel_id))
    if row is None:
        session.add(
            MenuRow(
                conversation_id=delivery.conversation_id,
                channel_id=delivery.channel_id,
                message_id=delivery.message_id,
                choices=choices,
                created_at=stamp,
            )
        )
    else:
        row.message_id = delivery.message_id
        row.choices = choices
        row.created_at = stamp


def failure_recorder(
    message_id: str,
    error: SendError,
    retry_delays: Sequence[float],
    directory: Directory,
    uniform: Uniform,
) -> Callable[[Session], Outcome]:
    """A write that schedules the next try of a failed send, or fails the delivery."""

    def record(session: Session) -> Outcome:
        delivery = session.get(DeliveryRow, message_id)
        if delivery is None:
            return Outcome(failed=True)
        stamp = now()
        delivery.claimed_until = None
        delivery.attempts += 1
        if error.retryable:
            when = next_delivery_attempt(
                stamp, delivery.attempts, retry_delays, error.retry_after, uniform
            )
            if when is not None:
                # the error is kept off a pending delivery: the API shows errors of FAILED only
                delivery.next_attempt_at = when
                return Outcome(failed=False, next_attempt_at=when)
        if error.opted_out:
            set_opt_out(
                session, delivery.channel_id, delivery.recipient, True, "provider", directory
            )
        if not fail_delivery(session, delivery, error.code, _reason(error), directory):
            # statuses only move forward: a delivery already past sending keeps its status
            delivery.next_attempt_at = None
        return Outcome(failed=True)

    return record


def _reason(error: SendError) -> str:
    if error.retryable:
        return f"{error.message} (gave up after the last retry)"
    return error.message


def fail_now(
    message_id: str, code: str, reason: str, directory: Directory
) -> Callable[[Session], None]:
    """A write that fails a delivery at once (no adapter for its channel, unreadable content)."""

    def record(session: Session) -> None:
        delivery = session.get(DeliveryRow, message_id)
        if delivery is not None and not fail_delivery(session, delivery, code, reason, directory):
            delivery.claimed_until = None
            delivery.next_attempt_at = None

    return record


def pending_count(session: Session) -> int:
    """Deliveries not yet accepted or failed (for the metrics)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(DeliveryRow)
            .where(col(DeliveryRow.status) == DeliveryStatus.PENDING.value)
        ).one()
    )
