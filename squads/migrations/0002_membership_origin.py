# Where a membership came from: granted by an identity provider's group
# mapping (portal.identity), or curated by hand. Chapter members get a model
# of their own over the table Django made for the plain many-to-many, so the
# rows stay where they are.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("squads", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="granted_by_mapping",
            field=models.BooleanField(default=False),
        ),
        migrations.SeparateDatabaseAndState(
            # The table exists already: only Django's picture of it changes.
            state_operations=[
                migrations.CreateModel(
                    name="ChapterMembership",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("chapter", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to="squads.chapter")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="chapter_memberships", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "squads_chapter_members",
                        "unique_together": {("chapter", "user")},
                    },
                ),
                migrations.AlterField(
                    model_name="chapter",
                    name="members",
                    field=models.ManyToManyField(blank=True, related_name="chapters", through="squads.ChapterMembership", to=settings.AUTH_USER_MODEL),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="chaptermembership",
            name="granted_by_mapping",
            field=models.BooleanField(default=False),
        ),
    ]
