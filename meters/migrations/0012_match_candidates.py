"""The stored best candidate site of each meter waiting for a mapping (`MatchCandidate`), and
a partial index on the waiting meters.

The table starts empty: the scoring task (meters.candidates) fills it after the next sync run
that changes meters, the next site import, or the nightly schedule; until then the review
queue lists its meters as "not scored yet", after the scored ones.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('meters', '0011_change_log'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='MatchCandidate',
            fields=[
                ('meter', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='match_candidate', serialize=False, to='meters.meter')),
                ('score', models.PositiveSmallIntegerField(default=0)),
                ('reason', models.CharField(blank=True, choices=[('reference', 'Reference'), ('account', 'Account number'), ('address', 'Address'), ('name', 'Name')], max_length=16)),
                ('identified', models.BooleanField(default=False)),
                ('name_score', models.PositiveSmallIntegerField(default=0)),
                ('address_score', models.PositiveSmallIntegerField(default=0)),
                ('postal_score', models.PositiveSmallIntegerField(default=0)),
                ('reference_score', models.PositiveSmallIntegerField(default=0)),
                ('account_match', models.BooleanField(default=False)),
                ('computed_at', models.DateTimeField()),
                ('changed_at', models.DateTimeField()),
            ],
            options={
                'ordering': ['-identified', '-score', 'meter'],
            },
        ),
        migrations.AddIndex(
            model_name='meter',
            index=models.Index(condition=models.Q(('no_site_yet', False), ('site__isnull', True)), fields=['id'], name='meter_awaiting_site_idx'),
        ),
        migrations.AddField(
            model_name='matchcandidate',
            name='site',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='meters.site'),
        ),
        migrations.AddIndex(
            model_name='matchcandidate',
            index=models.Index(fields=['-identified', '-score', 'meter'], name='candidate_strength_idx'),
        ),
        migrations.AddIndex(
            model_name='matchcandidate',
            index=models.Index(fields=['-score', 'meter'], name='candidate_score_idx'),
        ),
        migrations.AddIndex(
            model_name='matchcandidate',
            index=models.Index(fields=['reason', '-score'], name='candidate_reason_idx'),
        ),
    ]
