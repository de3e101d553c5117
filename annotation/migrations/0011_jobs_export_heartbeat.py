

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0010_tasktypes_feedback'),
    ]

    operations = [
        migrations.AddField(
            model_name='datasetexport',
            name='attempt',
            field=models.PositiveIntegerField(default=0, help_text='Claims so far; bumped by each claim.'),
        ),
        migrations.AddField(
            model_name='datasetexport',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='datasetexport',
            name='worker_id',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name='datasetexport',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=16),
        ),
    ]
