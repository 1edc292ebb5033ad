"""Rendering of the meter-details response: customer, device, site, utility and region blocks."""

from __future__ import annotations

import random
import unicodedata
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from .catalog import (
    CCA_LSE,
    COMPANY_NAMES,
    DEVICE_MODELS,
    DEVICE_TYPE_WEIGHTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    INSTALLERS,
    LAST_NAMES,
    ODD_CUSTOMER_NAMES,
    OFFERINGS,
    PLACES,
    STREET_NAMES,
    STREET_SUFFIXES,
    TARIFFS,
    TITLES,
    UNIT_FORMATS,
    Place,
)
from .enrollment import RenderContext, identifiers, put
from .generate import meter_rng, weighted
from .state import MeterState


def render_details(m: MeterState, ctx: RenderContext) -> dict[str, Any]:
    """The details response; its random parts come from (seed, seq), so they never drift."""
    rng = meter_rng(ctx.seed, m.seq, 2)
    place = PLACES[m.region][m.place]
    nulls = ctx.send_nulls
    out = identifiers(m, ctx)
    audit = out.pop("audit")
    out["customer"] = _customer(rng, m, place, nulls)
    put(out, "device", _device(rng, m) if m.device_type else None, nulls)
    put(out, "site", _site(rng, m, place) if rng.random() < 0.8 else None, nulls)
    put(out, "caiso", _caiso(rng) if m.region == "CAISO" else None, nulls)
    isone = {"in_connected_solutions": rng.random() < 0.4} if m.region == "ISONE" else None
    put(out, "isone", isone, nulls)
    put(out, "nyiso", _nyiso(rng) if m.region == "NYISO" else None, nulls)
    has_utility = m.meter_type != "DEVICE" or rng.random() < 0.4
    put(out, "utility", _utility(rng, m, place) if has_utility else None, nulls)
    out["audit"] = audit
    for (section, key), value in (m.details_patch or {}).items():
        target = out if section == "" else out.setdefault(section, {})
        target[key] = value
    return out


@lru_cache(maxsize=512)
def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum()) or "customer"


def _address(rng: random.Random, place: Place) -> dict[str, Any]:
    street = f"{rng.randint(1, 9899)} {rng.choice(STREET_NAMES)} {rng.choice(STREET_SUFFIXES)}"
    zip_code = f"{place.zip3}{rng.randrange(100):02d}"
    if rng.random() < 0.15:
        zip_code += f"-{rng.randrange(10000):04d}"
    out: dict[str, Any] = {"street_1": street}
    if rng.random() < 0.3:
        out["street_2"] = rng.choice(UNIT_FORMATS).format(n=rng.randint(1, 40))
    out.update(
        postal_code=zip_code, city=place.city, state_or_province_code=place.state, country_code="US"
    )
    return out


def _customer(rng: random.Random, m: MeterState, place: Place, nulls: bool) -> dict[str, Any]:
    out = _address(rng, place)
    if "street_2" not in out and nulls:
        out["street_2"] = None
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    odd = rng.random() < 0.015
    out["end_customer_name"] = rng.choice(ODD_CUSTOMER_NAMES) if odd else f"{first} {last}"
    put(out, "end_customer_title", rng.choice(TITLES) if rng.random() < 0.4 else None, nulls)
    handle = f"{_ascii(first)}.{_ascii(last)}{rng.randrange(100)}"
    email = f"{handle}@{rng.choice(EMAIL_DOMAINS)}" if rng.random() < 0.9 else None
    put(out, "end_customer_email", email, nulls)
    phone = f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randrange(10000):04d}"
    put(out, "end_customer_phone_number", phone if rng.random() < 0.85 else None, nulls)
    company = rng.choice(COMPANY_NAMES) if m.classification == "COMMERCIAL" else None
    put(out, "end_customer_company_name", company, nulls)
    offered = rng.random() < 0.7
    put(out, "partner_offering_name", rng.choice(OFFERINGS) if offered else None, nulls)
    offer_date = (m.created_at.date() - timedelta(days=rng.randint(0, 60))).isoformat()
    put(out, "partner_offering_date", offer_date if offered else None, nulls)
    out["is_in_wholesale_capacity_market"] = rng.random() < 0.1
    dispatch = rng.choice(("DAILY", "TARGETED")) if rng.random() < 0.6 else None
    put(out, "dispatch_option", dispatch, nulls)
    put(out, "billing", _address(rng, place) if rng.random() < 0.15 else None, nulls)
    reference = f"pcr-{rng.randrange(10**7):07d}" if rng.random() < 0.6 else None
    put(out, "partner_customer_reference", reference, nulls)
    return out


def _device(rng: random.Random, m: MeterState) -> dict[str, Any]:
    kind = m.device_type or "BATTERY"
    maker, model = rng.choice(DEVICE_MODELS[kind])
    installed = m.created_at.date() - timedelta(days=rng.randint(10, 900))
    out: dict[str, Any] = {
        "device_type": kind,
        "device_serial_number": f"{maker[:3].upper()}{rng.getrandbits(40):010X}",
        "device_model": model,
        "device_manufacturer": maker,
        "install_date": installed.isoformat(),
    }
    if kind == "BATTERY":
        out.update(_battery(rng, installed))
    out["installer"] = rng.choice(INSTALLERS)
    out["is_connected_to_solar"] = rng.random() < 0.6
    return out


def _battery(rng: random.Random, installed: date) -> dict[str, Any]:
    power = rng.choice((5.0, 7.6, 11.5, 3.84))
    hours = rng.choice((2, 3, 4))
    return {
        "battery_power_capacity_kw": power,
        "battery_energy_capacity_kwh": round(power * hours, 3),
        "battery_duration_hours": hours,
        "permission_to_operate_date": (installed + timedelta(days=rng.randint(5, 60))).isoformat(),
        "battery_max_discharge_rate_kw": power,
        "battery_max_charge_rate_kw": power,
        "battery_max_state_of_charge_percentage": rng.choice((90, 95, 100)),
        "battery_min_state_of_charge_percentage": rng.choice((5, 10, 20)),
    }


def _site(rng: random.Random, m: MeterState, place: Place) -> dict[str, Any]:
    devices = [_site_device(rng) for _ in range(weighted(rng, ((0, 0.5), (1, 0.35), (2, 0.15))))]
    fossil = m.classification == "COMMERCIAL" and rng.random() < 0.15
    out: dict[str, Any] = {
        "load_zone": place.load_zone,
        "number_of_devices": len(devices),
        "on_site_fossil_generator": fossil,
        "renewable_generator": rng.random() < 0.35,
    }
    if fossil:  # deprecated fields Leap still sends for older generator records
        out.update(
            generator_capacity_kw=float(rng.choice((60, 150, 500))),
            generator_model_year=rng.randint(1998, 2024),
            generator_manufacturer=rng.choice(("Caterpillar", "Cummins", "Generac")),
            generator_fuel_type=rng.choice(("DIESEL", "NATURAL_GAS", "DUAL_FUEL")),
            generator_serial_number=f"GEN-{rng.getrandbits(32):08X}",
        )
    out["site_devices"] = devices
    return out


def _site_device(rng: random.Random) -> dict[str, Any]:
    kind = weighted(rng, DEVICE_TYPE_WEIGHTS)
    maker, model = rng.choice(DEVICE_MODELS[kind])
    out: dict[str, Any] = {"device_type": kind, "model": model, "manufacturer": maker}
    out["serial_number"] = f"SN{rng.getrandbits(36):09X}"
    if kind == "BATTERY":
        power = rng.choice((5.0, 7.6, 11.5))
        out.update(energy_capacity_kwh=round(power * 4, 3), power_capacity_kw=power)
        out.update(energy_capacity_duration_hours=4, fuel_type="ENERGY_STORAGE")
    elif kind in ("EV_CHARGER", "BIDIRECTIONAL_EV_CHARGER"):
        out["voltage_level"] = rng.choice(("EVSE_LEVEL_1", "EVSE_LEVEL_2"))
    out["model_year"] = rng.randint(2015, 2026)
    out["is_connected_to_solar"] = rng.random() < 0.5
    return out


def _caiso(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"is_receiving_sgip_funding": rng.random() < 0.2}
    if rng.random() < 0.5:
        out["nem_type"] = rng.choice(("NEM2", "NEM3"))
    return out


def _nyiso(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cbl_method": rng.choice(("AVERAGE_DAY", "WEATHER_ADJUSTED")),
        "company_type": rng.choice(("INDIVIDUAL_OR_SOLE_PROPRIETOR", "CORPORATION", "OTHER")),
    }
    if rng.random() < 0.3:
        out["existing_nyiso_resource_id"] = str(rng.randint(100000, 999999))
        out["partner_nyiso_resource_name"] = f"Partner Resource {rng.randint(1, 40)}"
    return out


def _utility(rng: random.Random, m: MeterState, place: Place) -> dict[str, Any]:
    cca = m.region == "CAISO" and place.utility in ("PGE", "SCE", "SDGE") and rng.random() < 0.4
    return {
        "utility_name": place.utility,
        "load_serving_entity": rng.choice(CCA_LSE) if cca else place.utility,
        "electric_service_account_number": f"{rng.randrange(10**10):010d}-{rng.randint(1, 9)}",
        "tariff": rng.choice(TARIFFS[m.region]),
        "voltage": "< 600 V" if m.classification != "COMMERCIAL" else ">= 600 V",
        "utility_meter_serial_number": str(rng.randrange(10**9, 10**10)),
        "bill_service_agreement_number": str(rng.randrange(10**9, 10**10)),
        "bill_customer_account_number": str(rng.randrange(10**9, 10**10)),
    }
