"""Leap's enums, as published in the Meters V2 specs: the one home of their values and labels.

Values outside them are kept, not fatal: Leap adds programs and utilities over time without a
version bump. Parsing reports such a value as a warning (an error in strict mode), and the models
store Leap's value as text with no `choices`, so a new value is never refused.

The enums the pages show (filters, labels, badges) are `LeapEnum`s: a `StrEnum` whose members are
Leap's wire values and carry a human `label`; `choices()` turns one into a form's choices. The
others are only checked while parsing, and stay sets of strings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class LeapEnum(StrEnum):
    """A Leap enum: each member is Leap's value (a `str`) with the `label` people read."""

    label: str

    def __new__(cls, value: str, label: str | None = None) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = value if label is None else label
        return member


def choices(enum: type[LeapEnum]) -> list[tuple[str, str]]:
    """(value, label) pairs in the enum's order, for a form field or a filter."""
    return [(member.value, member.label) for member in enum]


def labels(enum: type[LeapEnum]) -> dict[str, str]:
    """Each value's label; look a value up with `.get(value, value)` (Leap may add values)."""
    return {member.value: member.label for member in enum}


def values(enum: type[LeapEnum]) -> frozenset[str]:
    """The enum's values as plain strings, for a fast membership test while parsing."""
    return frozenset(member.value for member in enum)


class EnrollmentStatus(LeapEnum):
    ACTIVE = "ACTIVE", "Active"
    ELIGIBLE = "ELIGIBLE", "Eligible"
    PENDING = "PENDING", "Pending"
    INELIGIBLE = "INELIGIBLE", "Ineligible"
    NOT_PARTICIPATING = "NOT_PARTICIPATING", "Not participating"


class ParticipationPreference(LeapEnum):
    PARTICIPATE = "PARTICIPATE", "Participate"
    IDLE = "IDLE", "Idle"
    DISENROLL = "DISENROLL", "Disenroll"


class MeterType(LeapEnum):
    UTILITY_METER = "UTILITY_METER", "Utility meter"
    SUBMETER = "SUBMETER", "Submeter"
    DEVICE = "DEVICE", "Device"


class LoadType(LeapEnum):
    HVAC = "HVAC"
    EV_CHARGING = "EV_CHARGING"
    BATTERY_STORAGE = "BATTERY_STORAGE"
    COLD_STORAGE = "COLD_STORAGE"
    PUMPING = "PUMPING"
    WATER_HEATING = "WATER_HEATING"
    BUILDING_AUTOMATION = "BUILDING_AUTOMATION"
    GENERATION = "GENERATION"
    MANUFACTURING = "MANUFACTURING"
    LIGHTING = "LIGHTING"
    OTHER = "OTHER"


class TransmissionRegion(LeapEnum):
    CAISO = "CAISO"
    ERCOT = "ERCOT"
    NYISO = "NYISO"
    ISONE = "ISONE"
    PJM = "PJM"
    SERC = "SERC"
    WECC_SW = "WECC_SW"
    WECC_PC = "WECC_PC"


class CustomerClassification(LeapEnum):
    RESIDENTIAL = "RESIDENTIAL", "Residential"
    COMMERCIAL = "COMMERCIAL", "Commercial"


class ActionType(LeapEnum):
    IS_AUTHORIZED = "IS_AUTHORIZED", "Customer authorization"
    DOCUMENTS_SIGNED = "DOCUMENTS_SIGNED", "Documents signed"
    HAS_AMI = "HAS_AMI", "Smart meter (AMI)"
    NOT_ENROLLED_IN_CONFLICTING_PROGRAM = (
        "NOT_ENROLLED_IN_CONFLICTING_PROGRAM",
        "Conflicting program",
    )
    PARTICIPATING = "PARTICIPATING", "Participating"
    HAS_MARKET_REGISTRATION = "HAS_MARKET_REGISTRATION", "Market registration"
    NO_MISSING_FIELDS = "NO_MISSING_FIELDS", "Missing fields"
    GENERATOR = "GENERATOR", "Generator"
    ADDRESS = "ADDRESS", "Address"
    HAS_NOMINATIONS = "HAS_NOMINATIONS", "Nominations"
    HAS_BIDDING_STRATEGY = "HAS_BIDDING_STRATEGY", "Bidding strategy"
    IS_ELIGIBLE = "IS_ELIGIBLE", "Eligibility"
    IS_ASSIGNED_TO_A_RESOURCE = "IS_ASSIGNED_TO_A_RESOURCE", "Assigned to a resource"
    MEETS_EXTRA_PROGRAM_REQUIREMENTS = (
        "MEETS_EXTRA_PROGRAM_REQUIREMENTS",
        "Extra program requirements",
    )


ENROLLMENT_STATUSES = values(EnrollmentStatus)
PARTICIPATION_PREFERENCES = values(ParticipationPreference)
METER_TYPES = values(MeterType)
LOAD_TYPES = values(LoadType)
TRANSMISSION_REGIONS = values(TransmissionRegion)
CUSTOMER_CLASSIFICATIONS = values(CustomerClassification)
ACTION_TYPES = values(ActionType)

PROGRAM_IDENTIFIERS = frozenset(
    {"CAISO-CCA-SC_ONLY", "CCA", "CEC-DSGS-OPTION4", "CEC-DSGS", "CONED-CSRP", "CONED-DLRP"}
    | {"DRAM", "ELRP", "ENERGY-ONLY", "ERCOT-ERS", "EVERSOURCE-CS", "MA_DOER-CPS", "NATGRID-CS"}
    | {"NRG-REALTIME", "NRG-RED", "NYISO-SCR", "ONCOR-CLM", "PGE-ART", "PGE-CBP", "PJM-CAPACITY"}
    | {"PSEGLI-CSRP", "PSEGLI-DLRP", "RIE-CS", "UNITIL-CS", "PSE-RPO", "SRP-RPO", "TVA-RPO"}
    | {"CAISO-ELRP-A4", "CEC-DSGS-OPTION2", "ENERGYHUB-CS", "CT_GB-ESS"}
)
UTILITIES = frozenset(
    {"PGE", "SCE", "SDGE", "SMUD", "LADWP", "SVP", "CECONY", "ORU", "PSEGLI", "NYS", "RIE"}
    | {"EVERSOURCE", "NATGRID", "UNITIL", "PPL", "CAPELIGHT", "UPLIGHT", "UNITED_ILLUMINATED"}
    | {"SMT", "AEP_CENTRAL", "AEP_NORTH", "NUECES_ELECTRIC", "ONCOR", "CENTERPOINT", "ENTERGY_GULF"}
    | {"SWEPCO", "TNMP", "DEMO", "DEMO2", "LEAP_TEST_CAISO", "LEAP_TEST_NYISO", "COMED", "BGE"}
    | {"PECO", "METED", "PENELEC", "PSEG", "DOMINION", "WESTPENN", "PENNPOWER", "PEPCO"}
    | {"PJM_DEMO", "OTHER", "NES", "MLGW", "KUB", "NPU", "MTEMC", "PRECC", "HSVU", "SRP", "PSE"}
    | {"TVA"}
)
CREATED_BY = frozenset({"PARTNER", "LEAP", "UTILITY"})
DISPATCH_OPTIONS = frozenset({"DAILY", "TARGETED"})
DEVICE_TYPES = frozenset(
    {"BATTERY", "GENERATOR", "EV", "EV_CHARGER", "BIDIRECTIONAL_EV_CHARGER", "SMART_THERMOSTAT"}
    | {"AIR_CONDITIONER", "HEAT_PUMP"}
)
FUEL_TYPES = frozenset({"DIESEL", "NATURAL_GAS", "DUAL_FUEL", "CO_GEN", "ENERGY_STORAGE", "OTHER"})
VOLTAGE_LEVELS = frozenset({"EVSE_LEVEL_1", "EVSE_LEVEL_2"})
NEM_TYPES = frozenset({"NEM2", "NEM3"})
CBL_METHODS = frozenset({"AVERAGE_DAY", "WEATHER_ADJUSTED"})
COMPANY_TYPES = frozenset(
    {"INDIVIDUAL_OR_SOLE_PROPRIETOR", "LIMITED_LIABILITY_COMPANY", "PARTNERSHIP", "CORPORATION"}
    | {"OTHER", "EXEMPT_PAYEE"}
)
