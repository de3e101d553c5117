
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0011_jobs_export_heartbeat'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='UploadJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=16)),
                ('error', models.TextField(blank=True)),
                ('attempt', models.PositiveIntegerField(default=0, help_text='Claims so far; bumped by each claim.')),
                ('worker_id', models.CharField(blank=True, max_length=200)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('kind', models.CharField(max_length=16)),
                ('format', models.CharField(default='auto', max_length=16)),
                ('relabel', models.BooleanField(default=False)),
                ('allow_gold', models.BooleanField(default=False, help_text='The uploader was a project admin.')),
                ('dry_run', models.BooleanField(default=False, help_text='Check and count, write nothing.')),
                ('file', models.CharField(help_text='Path under PALATE_UPLOADS_DIR; removed when done.', max_length=500)),
                ('file_name', models.CharField(blank=True, help_text='The name it was uploaded under.', max_length=255)),
                ('size_bytes', models.PositiveBigIntegerField(default=0)),
                ('total_rows', models.PositiveIntegerField(default=0)),
                ('progress_rows', models.PositiveIntegerField(default=0)),
                ('result', models.JSONField(blank=True, default=dict, help_text="The import's counts (and preview).")),
                ('error_field', models.CharField(blank=True, max_length=200)),
                ('error_line', models.PositiveIntegerField(blank=True, null=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='upload_jobs', to='annotation.project')),
            ],
            options={
                'ordering': ['-created_at', '-pk'],
                'indexes': [models.Index(fields=['status', 'heartbeat_at'], name='uploadjob_status_idx')],
            },
        ),
    ]
