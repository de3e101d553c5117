

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('training', '0004_run_resources'),
    ]

    operations = [
        migrations.AddField(
            model_name='loopround',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='loopround',
            name='started_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='loopround',
            name='attempt',
            field=models.PositiveIntegerField(default=0, help_text='Claims so far; bumped by each claim.'),
        ),
        migrations.AlterField(
            model_name='loopround',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='running', max_length=16),
        ),
    ]
