"""Reason codes: why a record was quarantined or a result flagged.

Every rejected row and every flag carries exactly one code from this list, in
a fixed order of precedence: when a row breaks several rules it is reported
under the first one listed. Codes are stable strings because they are stored
in run outputs and read by verifiers.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Row-level rejections (quarantine) followed by result-level flags."""

    # Ingestion: the row cannot be read as its record type.
    BAD_TYPE = "bad_type"
    MISSING_VALUE = "missing_value"
    BAD_VALUE = "bad_value"
    NON_UTC_TIMESTAMP = "non_utc_timestamp"
    DUPLICATE_KEY = "duplicate_key"
    # Identity and eligibility.
    DUPLICATE_VIN = "duplicate_vin"
    DUPLICATE_PLATE = "duplicate_plate"
    OTHER_PROGRAMME = "other_programme"
    UNKNOWN_CATEGORY = "unknown_category"
    UNKNOWN_VEHICLE = "unknown_vehicle"
    UNKNOWN_STATION = "unknown_station"
    UNKNOWN_METER = "unknown_meter"
    VEHICLE_EXCLUDED = "vehicle_excluded"
    STATION_EXCLUDED = "station_excluded"
    METER_EXCLUDED = "meter_excluded"
    DEVICE_OVERLAP = "device_overlap"
    UNASSIGNED_DEVICE = "unassigned_device"
    NO_ER_RIGHTS = "no_er_rights"
    BEFORE_ER_RIGHTS = "before_er_rights"
    OUTSIDE_SERVICE_WINDOW = "outside_service_window"
    # Telematics plausibility.
    ODOMETER_DECREASE = "odometer_decrease"
    IMPLAUSIBLE_SPEED = "implausible_speed"
    GPS_JUMP = "gps_jump"
    OUTSIDE_BOUNDARY = "outside_boundary"
    DAILY_KM_EXCEEDED = "daily_km_exceeded"
    # Meters.
    METER_DECREASE = "meter_decrease"
    # Result-level flags (not rejections).
    NO_ACTIVITY_EVIDENCE = "no_activity_evidence"
    IMPUTED_SHARE_HIGH = "imputed_share_high"
    IMPUTED_SHARE_ZEROED = "imputed_share_zeroed"
    GPS_ODOMETER_MISMATCH = "gps_odometer_mismatch"
    TELEMATICS_COVERAGE_LOW = "telematics_coverage_low"
    # A category's survey sample missed the E9 size or precision: lower bound credited.
    SAMPLING_PRECISION_NOT_MET = "sampling_precision_not_met"
    # Meter-day whose interval energy disagrees with its register: the higher counts.
    METER_INTERVAL_MISMATCH = "meter_interval_mismatch"
    CALIBRATION_MISSING = "calibration_missing"
    CALIBRATION_ADJUSTED = "calibration_adjusted"
    INVOICE_MISMATCH = "invoice_mismatch"
    SEC_BELOW_MIN = "sec_below_min"
    SEC_ABOVE_MAX = "sec_above_max"
    SMALL_SCALE_CAP = "small_scale_cap"
    OUTSIDE_CREDITING_PERIOD = "outside_crediting_period"
    PLACEHOLDER_PARAMETERS = "placeholder_parameters"


PRECEDENCE: dict[ReasonCode, int] = {code: index for index, code in enumerate(ReasonCode)}
