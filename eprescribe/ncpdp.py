"""NCPDP SCRIPT-style NewRx messages (a readable subset of SCRIPT 2017071).

Built only from a signed prescription's stored canonical payload (what was signed is what
is sent) plus the transmission header; see docs/eprescribe.md for the element list.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from typing import Any

from eprescribe.models import Prescription

SCRIPT_VERSION = "2017071"
# NCI thesaurus codes for the DEA schedule, as SCRIPT uses them.
DEA_SCHEDULE_CODES = {"2": "C48672", "3": "C48675", "4": "C48676", "5": "C48677"}


class NotSignedError(Exception):
    """A NewRx is built only from a signed prescription (DEA-12)."""


def _text(parent: ET.Element, tag: str, value: Any) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = "" if value is None else str(value)
    return element


def _address(parent: ET.Element, address: dict[str, str]) -> None:
    node = ET.SubElement(parent, "Address")
    _text(node, "AddressLine1", address["line1"])
    if address.get("line2"):
        _text(node, "AddressLine2", address["line2"])
    _text(node, "City", address["city"])
    _text(node, "StateProvince", address["state"])
    _text(node, "PostalCode", address["postal_code"])


def _split_name(full_name: str, first: str, last: str) -> tuple[str, str]:
    if first and last:
        return first, last
    parts = full_name.replace("Dr. ", "").split()
    return (" ".join(parts[:-1]), parts[-1]) if len(parts) > 1 else ("", full_name)


def message_id_for(rx: Prescription) -> str:
    """Stable per prescription: a resend of the same NewRx carries the same id."""
    return f"EHR-{rx.uuid}"


def build_new_rx(rx: Prescription, sent_at: dt.datetime | None = None) -> bytes:
    if not rx.is_signed or not rx.canonical_payload:
        raise NotSignedError("Only a signed prescription can be transmitted.")
    data: dict[str, Any] = json.loads(rx.canonical_payload)
    sent_at = sent_at or dt.datetime.now(dt.UTC)
    root = ET.Element("Message", {"version": SCRIPT_VERSION, "release": "006"})

    header = ET.SubElement(root, "Header")
    _text(header, "To", data["pharmacy"]["ncpdp_id"]).set("Qualifier", "P")
    _text(header, "From", data["prescriber"]["npi"] or data["prescriber"]["id"]).set("Qualifier", "C")
    _text(header, "MessageID", message_id_for(rx))
    _text(header, "SentTime", sent_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    signature = ET.SubElement(header, "DigitalSignature", {"Indicator": "true"})
    _text(signature, "Algorithm", "Ed25519")
    _text(signature, "DigestMethod", "SHA-256")
    _text(signature, "DigestValue", rx.digest_sha256)
    _text(signature, "SignatureValue", rx.signature)
    _text(signature, "KeyId", rx.signing_key_id)
    _text(signature, "SignedTime", data["signed_at"])

    body = ET.SubElement(root, "Body")
    new_rx = ET.SubElement(body, "NewRx")

    pharmacy = ET.SubElement(new_rx, "Pharmacy")
    _text(ET.SubElement(pharmacy, "Identification"), "NCPDPID", data["pharmacy"]["ncpdp_id"])
    _text(pharmacy, "BusinessName", data["pharmacy"]["name"])

    patient = ET.SubElement(ET.SubElement(new_rx, "Patient"), "HumanPatient")
    patient_name = data["patient"]["full_name"]
    first, last = _split_name(patient_name, rx.patient.first_name, rx.patient.last_name)
    name = ET.SubElement(patient, "Name")
    _text(name, "LastName", last)
    _text(name, "FirstName", first)
    _text(ET.SubElement(patient, "DateOfBirth"), "Date", data["patient"]["date_of_birth"])
    _address(patient, data["patient"]["address"])

    prescriber_data = data["prescriber"]
    prescriber = ET.SubElement(ET.SubElement(new_rx, "Prescriber"), "NonVeterinarian")
    identification = ET.SubElement(prescriber, "Identification")
    _text(identification, "NPI", prescriber_data["npi"])
    _text(identification, "DEANumber", prescriber_data["dea_number"])
    user = rx.prescriber.user
    first, last = _split_name(prescriber_data["name"], user.first_name, user.last_name)
    name = ET.SubElement(prescriber, "Name")
    _text(name, "LastName", last)
    _text(name, "FirstName", first)
    _text(prescriber, "FullName", prescriber_data["name"])
    _address(prescriber, prescriber_data["address"])
    practice = data.get("practice")  # canonical version 2: the practice location (issue 10)
    if practice:
        location = ET.SubElement(prescriber, "PracticeLocation")
        _text(location, "BusinessName", practice["name"])
        if practice["address"]["line1"]:
            _address(location, practice["address"])

    medication = data["medication"]
    drug = ET.SubElement(new_rx, "MedicationPrescribed")
    _text(drug, "DrugDescription", f"{medication['name']} {medication['strength']} {medication['dosage_form']}")
    coded = ET.SubElement(drug, "DrugCoded")
    strength = ET.SubElement(coded, "Strength")
    _text(strength, "StrengthValue", medication["strength"])
    _text(strength, "StrengthForm", medication["dosage_form"])
    if medication["dea_schedule"]:
        _text(ET.SubElement(coded, "DEASchedule"), "Code", DEA_SCHEDULE_CODES[medication["dea_schedule"]])
    quantity = ET.SubElement(drug, "Quantity")
    _text(quantity, "Value", data["quantity"])
    _text(quantity, "CodeListQualifier", "38")
    _text(ET.SubElement(quantity, "QuantityUnitOfMeasure"), "Text", data["quantity_unit"])
    _text(ET.SubElement(drug, "WrittenDate"), "Date", data["written_date"])
    if data["earliest_fill_date"]:
        _text(ET.SubElement(drug, "EarliestFillDate"), "Date", data["earliest_fill_date"])
    _text(ET.SubElement(drug, "Sig"), "SigText", data["directions"])
    _text(drug, "NumberOfRefills", data["refills"])

    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
