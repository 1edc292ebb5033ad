"""Static reference data for the simulator: regions, programs, utilities, places, names."""

from __future__ import annotations

from typing import NamedTuple


class Region(NamedTuple):
    """A transmission region with its time zone and the share of meters generated in it."""

    name: str
    tz: str
    weight: float


class Place(NamedTuple):
    """A city with its state, ZIP prefix, serving utility and wholesale load zone."""

    city: str
    state: str
    zip3: str
    utility: str
    load_zone: str


class Program(NamedTuple):
    """A Leap program: its delivery-period prefix, utilities served, and deadlines per period."""

    identifier: str
    period_prefix: str
    utilities: tuple[str, ...]
    group_code: str
    mid_month_deadline: bool


REGIONS: tuple[Region, ...] = (
    Region("CAISO", "America/Los_Angeles", 0.40),
    Region("NYISO", "America/New_York", 0.15),
    Region("ERCOT", "America/Chicago", 0.15),
    Region("ISONE", "America/New_York", 0.10),
    Region("PJM", "America/New_York", 0.12),
    Region("SERC", "America/Chicago", 0.03),
    Region("WECC_SW", "America/Phoenix", 0.03),
    Region("WECC_PC", "America/Los_Angeles", 0.02),
)
REGION_TZ: dict[str, str] = {r.name: r.tz for r in REGIONS}

PLACES: dict[str, tuple[Place, ...]] = {
    "CAISO": (
        Place("San Francisco", "CA", "941", "PGE", "PGAE"),
        Place("Oakland", "CA", "946", "PGE", "PGAE"),
        Place("San José", "CA", "951", "PGE", "PGAE"),
        Place("Fresno", "CA", "937", "PGE", "PGAE"),
        Place("Irvine", "CA", "926", "SCE", "SCE"),
        Place("Long Beach", "CA", "908", "SCE", "SCE"),
        Place("San Diego", "CA", "921", "SDGE", "SDGE"),
        Place("Sacramento", "CA", "958", "SMUD", "PGAE"),
        Place("Los Angeles", "CA", "900", "LADWP", "SCE"),
    ),
    "NYISO": (
        Place("New York", "NY", "100", "CECONY", "J"),
        Place("Brooklyn", "NY", "112", "CECONY", "J"),
        Place("Hempstead", "NY", "115", "PSEGLI", "K"),
        Place("Buffalo", "NY", "142", "NATGRID", "A"),
        Place("Syracuse", "NY", "132", "NATGRID", "C"),
    ),
    "ERCOT": (
        Place("Dallas", "TX", "752", "ONCOR", "LZ_NORTH"),
        Place("Fort Worth", "TX", "761", "ONCOR", "LZ_NORTH"),
        Place("Houston", "TX", "770", "CENTERPOINT", "LZ_HOUSTON"),
    ),
    "ISONE": (
        Place("Boston", "MA", "021", "EVERSOURCE", ".Z.NEMASSBOST"),
        Place("Worcester", "MA", "016", "NATGRID", ".Z.WCMASS"),
        Place("Hartford", "CT", "061", "EVERSOURCE", ".Z.CONNECTICUT"),
        Place("Providence", "RI", "029", "RIE", ".Z.RHODEISLAND"),
    ),
    "PJM": (
        Place("Chicago", "IL", "606", "COMED", "COMED"),
        Place("Philadelphia", "PA", "191", "PECO", "PECO"),
        Place("Baltimore", "MD", "212", "BGE", "BGE"),
    ),
    "SERC": (
        Place("Knoxville", "TN", "379", "KUB", "TVA"),
        Place("Nashville", "TN", "372", "NES", "TVA"),
        Place("Memphis", "TN", "381", "MLGW", "TVA"),
    ),
    "WECC_SW": (
        Place("Phoenix", "AZ", "850", "SRP", "SRP"),
        Place("Tempe", "AZ", "852", "SRP", "SRP"),
    ),
    "WECC_PC": (
        Place("Bellevue", "WA", "980", "PSE", "PSE"),
        Place("Seattle", "WA", "981", "PSE", "PSE"),
    ),
}

_CA_IOU = ("PGE", "SCE", "SDGE")
PROGRAMS: dict[str, tuple[Program, ...]] = {
    "CAISO": (
        Program("CCA", "CAISO-CCA", _CA_IOU, "PDRP", True),
        Program("ELRP", "CAISO-ELRP", _CA_IOU, "ELRP", True),
        Program("CAISO-ELRP-A4", "CAISO-ELRP-A4", _CA_IOU, "ELA4", False),
        Program("DRAM", "CAISO-DRAM", _CA_IOU, "DRAM", True),
        Program("PGE-CBP", "PGE-CBP", ("PGE",), "CBP", False),
        Program("CEC-DSGS", "CEC-DSGS", (*_CA_IOU, "SMUD", "LADWP"), "DSGS", False),
    ),
    "NYISO": (
        Program("NYISO-SCR", "NYISO-SCR", ("CECONY", "PSEGLI", "NATGRID"), "SCR", False),
        Program("CONED-DLRP", "CONED-DLRP", ("CECONY",), "DLRP", False),
        Program("CONED-CSRP", "CONED-CSRP", ("CECONY",), "CSRP", False),
        Program("PSEGLI-CSRP", "PSEGLI-CSRP", ("PSEGLI",), "CSRP", False),
        Program("PSEGLI-DLRP", "PSEGLI-DLRP", ("PSEGLI",), "DLRP", False),
    ),
    "ERCOT": (
        Program("ERCOT-ERS", "ERCOT-ERS", ("ONCOR", "CENTERPOINT"), "ERS", True),
        Program("ONCOR-CLM", "ONCOR-CLM", ("ONCOR",), "CLM", False),
    ),
    "ISONE": (
        Program("EVERSOURCE-CS", "EVERSOURCE-CS", ("EVERSOURCE",), "CS", False),
        Program("NATGRID-CS", "NATGRID-CS", ("NATGRID",), "CS", False),
        Program("MA_DOER-CPS", "MA_DOER-CPS", ("EVERSOURCE", "NATGRID"), "CPS", False),
        Program("RIE-CS", "RIE-CS", ("RIE",), "CS", False),
    ),
    "PJM": (Program("PJM-CAPACITY", "PJM-CAPACITY", ("COMED", "PECO", "BGE"), "CAP", False),),
    "SERC": (Program("TVA-RPO", "TVA-RPO", ("KUB", "NES", "MLGW"), "RPO", False),),
    "WECC_SW": (Program("SRP-RPO", "SRP-RPO", ("SRP",), "RPO", False),),
    "WECC_PC": (Program("PSE-RPO", "PSE-RPO", ("PSE",), "RPO", False),),
}
PROGRAM_BY_ID: dict[str, Program] = {p.identifier: p for ps in PROGRAMS.values() for p in ps}
GROUP_UTILITY_CODE: dict[str, str] = {
    "PGE": "PGEB",
    "SCE": "SCEC",
    "SDGE": "SDGB",
    "SMUD": "SMUD",
    "LADWP": "LDWP",
    "CECONY": "CONE",
    "PSEGLI": "PSLI",
    "NATGRID": "NGRD",
    "ONCOR": "ONCR",
    "CENTERPOINT": "CNPT",
    "EVERSOURCE": "EVSR",
    "RIE": "RIEN",
    "COMED": "CMED",
    "PECO": "PECO",
    "BGE": "BGEC",
    "KUB": "TVAK",
    "NES": "TVAN",
    "MLGW": "TVAM",
    "SRP": "SRPA",
    "PSE": "PSEW",
}
CCA_LSE: tuple[str, ...] = ("MCE", "SVCE", "CleanPowerSF", "EBCE", "SDCP", "CPA")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

FIRST_NAMES: tuple[str, ...] = (
    "James", "Maria", "Robert", "Jennifer", "Michael", "Linda", "David", "Patricia", "Wei",
    "Priya", "Carlos", "Aisha", "Zoë", "Łukasz", "José", "Renée", "Søren", "François", "Thảo",
    "Nguyễn", "Chloé", "Mateo", "Olivia", "Noah", "Emma", "Liam", "Sofía", "Hiroshi", "Fatima",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Chen", "Patel", "Kim", "Nguyen", "Ñúñez", "Żółć", "O'Brien", "Müller", "Dubois", "Kowalski",
    "Andersson", "Lévesque", "Tanaka", "Okafor", "Cohen", "Rossi", "Murphy", "Lee", "Walker",
)  # fmt: skip
# Leap passes customer names through untouched; its pattern only bans U+FFFD, NBSP and "?".
ODD_CUSTOMER_NAMES: tuple[str, ...] = (
    "Zoë Ñúñez",
    "Łukasz Żółć",
    "<b>Bold</b> Bakery",
    "Tom & Jerry's Deli",
    "<script>alert(1)</script>",
    "A & B <Holdings>",
)
COMPANY_NAMES: tuple[str, ...] = (
    "Acme Cold Storage", "Bay Area Dental Group", "Sunrise Bakery", "Greenfield Farms LLC",
    "Harbor Logistics, Inc.", "Main St. Hardware", "Tom & Jerry's Deli", "Café Olé",
    "North Star Manufacturing", "Pacific Pumping Co.", "Hôtel Léon", "O'Malley's Pub",
)  # fmt: skip
STREET_NAMES: tuple[str, ...] = (
    "Oak", "Maple", "Pine", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Main",
    "Sunset", "Mission", "Market", "Broadway", "Church", "Highland", "Lincoln", "Peña", "Cañada",
)  # fmt: skip
STREET_SUFFIXES: tuple[str, ...] = ("St", "Ave", "Blvd", "Rd", "Dr", "Ln", "Way", "Ct", "Pl")
UNIT_FORMATS: tuple[str, ...] = ("Apt {n}", "Unit {n}", "Suite {n}", "# {n}", "Apt. {n}B", "Fl {n}")
TITLES: tuple[str, ...] = ("Mr.", "Ms.", "Mrs.", "Dr.", "Mx.", "Owner", "Facilities Mgr")
EMAIL_DOMAINS: tuple[str, ...] = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com")
OFFERINGS: tuple[str, ...] = (
    "Battery Rewards",
    "Smart Thermostat Savings",
    "Peak Saver",
    "EV Charge Rewards",
    "Business Demand Response",
)
TARIFFS: dict[str, tuple[str, ...]] = {
    "CAISO": ("E-TOU-C", "E-ELEC", "TOU-D-PRIME", "EV-TOU-5", "B-19", "TOU-DR1"),
    "NYISO": ("EL1", "SC-1", "SC-9", "SC-2"),
    "ERCOT": ("Residential Service", "Secondary Service"),
    "ISONE": ("R-1", "G-1", "R-4"),
    "PJM": ("RS", "R-H", "GS"),
    "SERC": ("RS", "GSA1"),
    "WECC_SW": ("E-23", "E-26"),
    "WECC_PC": ("Schedule 7", "Schedule 24"),
}
CUSTOMER_GROUPS: tuple[str, ...] = (
    "",
    "Residential Batteries",
    "SMB Pilot",
    "Group A",
    "Bay Area Thermostats",
    "Enterprise & Campus",
)
TAGS: tuple[str, ...] = (
    "vip",
    "pilot-2026",
    "battery",
    "needs-review",
    "Q3 campaign",
    "solar|storage",
    "Zoë's pilot",
    "installer-acme",
)

DEVICE_MODELS: dict[str, tuple[tuple[str, str], ...]] = {
    "BATTERY": (
        ("Tesla", "Powerwall 3"),
        ("Enphase", "IQ Battery 5P"),
        ("FranklinWH", "aPower 2"),
        ("Generac", "PWRcell"),
        ("SolarEdge", "Home Battery"),
    ),
    "SMART_THERMOSTAT": (("ecobee", "SmartThermostat Premium"), ("Google", "Nest Learning")),
    "EV_CHARGER": (("ChargePoint", "Home Flex"), ("Wallbox", "Pulsar Plus"), ("Emporia", "EV")),
    "BIDIRECTIONAL_EV_CHARGER": (("Wallbox", "Quasar 2"), ("Ford", "Charge Station Pro")),
    "EV": (("Ford", "F-150 Lightning"), ("Tesla", "Model Y"), ("Kia", "EV9")),
    "HEAT_PUMP": (("Mitsubishi", "Hyper-Heat"), ("Carrier", "Infinity 24")),
    "AIR_CONDITIONER": (("Trane", "XR16"), ("Lennox", "EL16XC1")),
    "GENERATOR": (("Generac", "Guardian 24kW"), ("Kohler", "20RESCL")),
}
DEVICE_TYPE_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("BATTERY", 0.45),
    ("SMART_THERMOSTAT", 0.25),
    ("EV_CHARGER", 0.14),
    ("EV", 0.05),
    ("HEAT_PUMP", 0.05),
    ("AIR_CONDITIONER", 0.04),
    ("BIDIRECTIONAL_EV_CHARGER", 0.02),
)
INSTALLERS: tuple[str, ...] = ("Acme Installations Inc.", "SunPower", "Sunrun", "Local Solar Co.")
LOAD_TYPES_BY_DEVICE: dict[str, str] = {
    "BATTERY": "BATTERY_STORAGE",
    "SMART_THERMOSTAT": "HVAC",
    "HEAT_PUMP": "HVAC",
    "AIR_CONDITIONER": "HVAC",
    "EV_CHARGER": "EV_CHARGING",
    "BIDIRECTIONAL_EV_CHARGER": "EV_CHARGING",
    "EV": "EV_CHARGING",
    "GENERATOR": "GENERATION",
}
COMMERCIAL_LOADS: tuple[str, ...] = (
    "HVAC",
    "COLD_STORAGE",
    "PUMPING",
    "LIGHTING",
    "MANUFACTURING",
    "BUILDING_AUTOMATION",
    "WATER_HEATING",
    "OTHER",
)

FAR_FUTURE: tuple[str, ...] = (
    "9000-01-01T00:00:00Z",
    "9000-12-31T23:59:59.999999999Z",
    "2099-01-01T00:00:00Z",
)
IDLE_REASONS: tuple[str, ...] = ("Idle Time", "Seasonal participation", "Device offline")
DISENROLL_REASONS: tuple[str, ...] = ("Disenrollment", "Customer requested removal", "Moved out")


class ActionKind(NamedTuple):
    """A required-action template: which side acts, its code and type, and sample descriptions."""

    side: str
    code: str
    action_type: str
    descriptions: tuple[str, ...]
    weight: float


ACTION_KINDS: tuple[ActionKind, ...] = (
    ActionKind(
        "partner",
        "AUTH_0001",
        "IS_AUTHORIZED",
        ("End customer must re-authorize meter. Learn more in our partner guide",),
        0.35,
    ),
    ActionKind(
        "partner",
        "MRKT_0002",
        "NOT_ENROLLED_IN_CONFLICTING_PROGRAM",
        (
            (
                "This meter must be disenrolled from a conflicting program: PG&E, ART. "
                "Learn more in our partner guide."
            ),
            "This meter must be disenrolled from a conflicting program: <b>SCE & BIP</b>.",
        ),
        0.15,
    ),
    ActionKind(
        "partner",
        "SERV_0005",
        "NO_MISSING_FIELDS",
        (
            "Partner needs configuration for fields: Voltage Group, CBL Method, Load Zone.",
            "Partner needs configuration for fields: End Customer Company Name.",
            "Partner needs configuration for fields: battery capacity, number of devices.",
        ),
        0.2,
    ),
    ActionKind(
        "partner",
        "SERV_0002",
        "NO_MISSING_FIELDS",
        ("There are missing fields: <script>alert(1)</script> & tariff",),
        0.03,
    ),
    ActionKind(
        "leap", "LEAP_0001", "HAS_NOMINATIONS", ("This meter does not have nominations set",), 0.12
    ),
    ActionKind(
        "leap",
        "LEAP_0001",
        "IS_ASSIGNED_TO_A_RESOURCE",
        ("The meter is not enrolled in the program",),
        0.15,
    ),
)
