"""Deadlines carry their period's program, for each program's next deadline from one index."""

from django.db import migrations, models

# Each deadline takes its period's program (a correlated subquery: PostgreSQL and SQLite alike).
BACKFILL = """
    UPDATE enrollments_enrollmentdeadline
    SET program_identifier = (
        SELECT program.program_identifier
        FROM enrollments_programenrollment program
        WHERE program.id = enrollments_enrollmentdeadline.program_enrollment_id
    )
"""


class Migration(migrations.Migration):
    dependencies = [
        ("enrollments", "0007_dashboard_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="enrollmentdeadline",
            name="program_identifier",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="enrollmentdeadline",
            index=models.Index(
                fields=["program_identifier", "enrollment_deadline_date_time"],
                name="deadline_program_time_idx",
            ),
        ),
    ]
