"""The catalogue of journal event names.

Ledger events change blocks and are replayed by `LedgerState`. Every other
event (project workflow, accounting, finance) is recorded on the same hash
chain for audit; replay checks its place in the chain, and its own module
validates its content. An event name missing from this catalogue is a broken
journal.
"""

from __future__ import annotations

LEDGER_EVENTS = frozenset(
    {
        "PartyRegistered",
        "RegistryOpened",
        "EntityRegistered",
        "AccountOpened",
        "ApproachRegistered",
        "AuthorizationRecorded",
        "UnitsIssued",
        "UnitsFirstTransferred",
        "UnitsTransferred",
        "UnitsAcquired",
        "UnitsUsed",
        "UnitsCancelled",
    }
)

WORKFLOW_EVENTS = frozenset(
    {
        "OrganisationRegistered",
        "UserRegistered",
        "ApiTokenIssued",
        "WorkingGroupConfigured",
        "ProjectCreated",
        "ProjectSubmitted",
        "ProjectWithdrawn",
        "ReviewStarted",
        "ProjectReviewed",
        "ProjectRejected",
        "LetterOfAuthorizationIssued",
        "LetterOfAuthorizationAmended",
        "LetterOfAuthorizationRevoked",
        "ProjectRegistered",
        "MonitoringReportSubmitted",
        "VerifierAssigned",
        "PeriodVerified",
        "IssuanceRequested",
        "IssuanceAllocated",
        "AllocationRulesSet",
    }
)

ACCOUNTING_EVENTS = frozenset(
    {
        "NdcRecorded",
        "InventoryImported",
        "HoldingsFrozen",
        "BalanceFinalised",
        "BalanceCorrected",
        "AefGenerated",
    }
)

FINANCE_EVENTS = frozenset(
    {
        "FinancingAgreementRecorded",
        "FinancingAgreementAmended",
        "DisbursementRecorded",
        "ExchangeRateRecorded",
        "RecoveryDelivered",
    }
)

AUDIT_EVENTS = WORKFLOW_EVENTS | ACCOUNTING_EVENTS | FINANCE_EVENTS
