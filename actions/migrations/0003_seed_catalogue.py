"""Seed the action catalogue: a default entry per action_type of the spec, and the known codes."""

from django.db import migrations

CUSTOMER, OPERATIONS, LEAP = "customer", "operations", "leap"

HTML_FRAME = (
    "<p>Hello {{{{ customer_name|default:'there' }}}},</p>\n"
    "{body}\n"
    "<p>Meter: {{{{ meter_label }}}}{{% if address %}} at {{{{ address }}}}{{% endif %}}<br>\n"
    "Program: {{{{ program }}}}{{% if delivery_period %}} ({{{{ delivery_period }}}}){{% endif %}}<br>\n"
    "Please act before <strong>{{{{ deadline }}}}</strong>.</p>\n"
    "{{% if action_link %}}<p><a href=\"{{{{ action_link }}}}\">{link_label}</a></p>{{% endif %}}\n"
    "<p>Questions? {{% if support_url %}}<a href=\"{{{{ support_url }}}}\">{{{{ support_url }}}}</a>"
    "{{% endif %}}{{% if support_email %}} · {{{{ support_email }}}}{{% endif %}}</p>\n"
    "<p>Thank you,<br>{{{{ partner_name }}}}</p>"
)
TEXT_FRAME = (
    "Hello {{{{ customer_name|default:'there' }}}},\n\n"
    "{body}\n\n"
    "Meter: {{{{ meter_label }}}}{{% if address %}} at {{{{ address }}}}{{% endif %}}\n"
    "Program: {{{{ program }}}}{{% if delivery_period %}} ({{{{ delivery_period }}}}){{% endif %}}\n"
    "Please act before {{{{ deadline }}}}.\n"
    "{{% if action_link %}}\n{link_label}: {{{{ action_link }}}}\n{{% endif %}}\n"
    "Questions? {{{{ support_url }}}} {{{{ support_email }}}}\n\n"
    "Thank you,\n{{{{ partner_name }}}}\n"
)


def _email(subject: str, body: str, link_label: str) -> dict:
    return {
        "email_subject": subject,
        "email_html": HTML_FRAME.format(body=f"<p>{body}</p>", link_label=link_label),
        "email_text": TEXT_FRAME.format(body=body, link_label=link_label),
    }


AUTHORIZE = _email(
    "Action needed: re-authorise access to your meter {{ meter_label }}",
    "To keep your meter enrolled in {{ program }}, we need you to authorise access to its "
    "utility data again. It takes a couple of minutes.",
    "Authorise now",
)
SIGN = _email(
    "Action needed: sign the program documents for {{ program }}",
    "Your enrollment in {{ program }} is waiting for your signature on the program documents.",
    "Review and sign",
)
AMI = _email(
    "Action needed: a smart meter is required for {{ program }}",
    "{{ program }} needs a smart (interval) meter at your service address. Please ask your "
    "utility to install one, then let us know.",
    "How to request a smart meter",
)
CONFLICT = _email(
    "Action needed: leave your other program to join {{ program }}",
    "Your meter is enrolled in another demand response program that conflicts with "
    "{{ program }}. Please disenrol from that program with your utility so we can enrol you.",
    "How to disenrol",
)

# (action_type, action_code, title, fixer, next step, email)
ENTRIES = [
    ("IS_AUTHORIZED", "", "Customer authorization needed", CUSTOMER,
     "Ask the customer to (re-)authorise utility data access, e.g. with a Leap Connect link "
     "carrying the meter's partner_reference.", AUTHORIZE),
    ("IS_AUTHORIZED", "AUTH_0001", "Customer must re-authorise the meter", CUSTOMER,
     "Email the customer the re-authorisation link; Leap clears the action once the new "
     "authorisation arrives.", AUTHORIZE),
    ("DOCUMENTS_SIGNED", "", "Program documents not signed", CUSTOMER,
     "Send the customer the program agreement to sign.", SIGN),
    ("HAS_AMI", "", "Smart meter (AMI) required", CUSTOMER,
     "Ask the customer to request a smart meter from their utility.", AMI),
    ("NOT_ENROLLED_IN_CONFLICTING_PROGRAM", "", "Enrolled in a conflicting program", CUSTOMER,
     "Ask the customer to leave the conflicting program; in CAISO, refresh the market "
     "registration afterwards.", CONFLICT),
    ("NOT_ENROLLED_IN_CONFLICTING_PROGRAM", "MRKT_0002", "Must leave a conflicting program",
     CUSTOMER, "Ask the customer to disenrol from the program Leap names (e.g. PG&E ART), then "
     "wait for Leap to confirm.", CONFLICT),
    ("PARTICIPATING", "", "Not participating", OPERATIONS,
     "Check the meter's participation preference (IDLE or DISENROLL?) and correct it if the "
     "customer should take part.", None),
    ("HAS_MARKET_REGISTRATION", "", "Market registration pending", LEAP,
     "Leap registers the meter with the market; nothing to do unless the deadline nears.", None),
    ("NO_MISSING_FIELDS", "", "Missing meter data", OPERATIONS,
     "Supply the fields Leap lists (for partner-created meters, Create Meters with "
     "update_existing=true).", None),
    ("NO_MISSING_FIELDS", "SERV_0005", "Partner must supply missing configuration", OPERATIONS,
     "Fill in the configuration fields named in Leap's description (e.g. Voltage Group, CBL "
     "Method, Load Zone, company name, battery capacity) and push them to Leap.", None),
    ("NO_MISSING_FIELDS", "SERV_0002", "Missing fields", OPERATIONS,
     "Read Leap's description for the missing fields and supply them.", None),
    ("GENERATOR", "", "Generator information needed", OPERATIONS,
     "Confirm the site's on-site generation details and update them in Leap.", None),
    ("ADDRESS", "", "Service address problem", OPERATIONS,
     "Check and correct the meter's service address.", None),
    ("HAS_NOMINATIONS", "", "Nominations not set", LEAP,
     "Leap sets the nominations; display only.", None),
    ("HAS_NOMINATIONS", "LEAP_0001", "Leap: nominations not set yet", LEAP,
     "Leap sets the nominations; display only.", None),
    ("HAS_BIDDING_STRATEGY", "", "Bidding strategy missing", LEAP,
     "Leap sets the bidding strategy; display only.", None),
    ("IS_ELIGIBLE", "", "Eligibility check failed", OPERATIONS,
     "Review why the meter is not eligible for the program and decide whether to keep it.", None),
    ("IS_ASSIGNED_TO_A_RESOURCE", "", "Not assigned to a resource", LEAP,
     "Leap assigns the meter to a resource; display only.", None),
    ("IS_ASSIGNED_TO_A_RESOURCE", "LEAP_0001", "Leap: meter not yet in the program", LEAP,
     "Leap assigns the meter to a resource; display only.", None),
    ("MEETS_EXTRA_PROGRAM_REQUIREMENTS", "", "Extra program requirements not met", OPERATIONS,
     "Review the program's extra requirements with the customer's account owner.", None),
]


def seed(apps, schema_editor):
    Entry = apps.get_model("actions", "ActionCatalogueEntry")
    for action_type, code, title, fixer, next_step, email in ENTRIES:
        Entry.objects.get_or_create(
            action_type=action_type,
            action_code=code,
            defaults={"title": title, "fixer": fixer, "next_step": next_step, **(email or {})},
        )


def unseed(apps, schema_editor):
    Entry = apps.get_model("actions", "ActionCatalogueEntry")
    for action_type, code, *_ in ENTRIES:
        Entry.objects.filter(action_type=action_type, action_code=code, needs_review=False).delete()


class Migration(migrations.Migration):
    dependencies = [("actions", "0002_workflow_catalogue_notes")]
    operations = [migrations.RunPython(seed, unseed)]
