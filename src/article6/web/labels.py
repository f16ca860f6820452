"""People's words for the states and kinds the ledger stores as codes."""

from __future__ import annotations

from article6.web.i18n import Gettext


def state_label(state: str, words: Gettext) -> str:
    _ = words.gettext
    labels = {
        "draft": _("Draft"),
        "submitted": _("Submitted"),
        "in_review": _("In review"),
        "changes_requested": _("Changes requested"),
        "reviewed": _("Reviewed"),
        "authorized": _("Authorized"),
        "registered": _("Registered"),
        "rejected": _("Rejected"),
        "withdrawn": _("Withdrawn"),
        "revoked": _("Revoked"),
        "verifier_assigned": _("Verifier assigned"),
        "verified": _("Verified"),
        "issuance_requested": _("Issuance requested"),
        "issued": _("Issued"),
        "held": _("Held"),
        "used": _("Used"),
        "cancelled": _("Cancelled"),
        "split": _("Split"),
        "approve": _("Approve"),
        "request_changes": _("Request changes"),
        "holding": _("Holding"),
        "pending": _("Pending (not yet first transferred)"),
        "ndc_use": _("NDC use"),
        "oimp_use": _("OIMP use"),
        "voluntary_cancellation": _("Voluntary cancellation"),
        "omge_cancellation": _("OMGE cancellation"),
        "other_cancellation": _("Other cancellation"),
        "adaptation_fund": _("Adaptation Fund"),
        "provisional": _("Provisional"),
        "final": _("Final"),
        "corrected": _("Corrected"),
        "acquirer": _("Acquiring Party"),
        "host": _("Host Party"),
        "developer": _("Developer"),
        "remainder": _("Remainder"),
        "omge": _("OMGE (overall mitigation)"),
    }
    return labels.get(state, state.replace("_", " "))


def question_label(question: str, words: Gettext) -> str:
    _ = words.gettext
    labels = {
        "methodology": _("Methodology"),
        "total_reductions": _("Total emission reductions"),
        "allocation_ratios": _("Allocation ratios"),
    }
    return labels.get(question, question)


def role_label(role: str, words: Gettext) -> str:
    _ = words.gettext
    labels = {
        "host_chair": _("Chair (host Party)"),
        "host_coordinator": _("Article 6 secretariat (host Party)"),
        "host_technical_reviewer": _("Technical reviewer (host Party)"),
        "registry_administrator": _("Registry administrator"),
        "acquiring_authority": _("Acquiring Party authority"),
        "working_group_member": _("Working group member"),
        "project_developer": _("Project developer"),
        "verifier": _("Verifier"),
        "financier": _("Financier"),
        "observer": _("Observer"),
        "system_administrator": _("System administrator"),
    }
    return labels.get(role, role.replace("_", " "))


def delivery_label(state: str, words: Gettext) -> str:
    """States of a vintage in a financing agreement's recovery ledger."""
    _ = words.gettext
    labels = {
        "delivered": _("Delivered"),
        "partial": _("Partly delivered"),
        "missed": _("Missed"),
        "ahead": _("Ahead of plan"),
        "pending": _("Not yet due"),
    }
    return labels.get(state, state)
