from django.db import migrations


class Migration(migrations.Migration):
    # Reviewed: the previous release no longer reads the title.
    flagschema_accepted = "title is unused since the previous release"

    dependencies = [("lintme", "0005_alter_type")]

    operations = [
        migrations.RemoveField(model_name="invoice", name="title"),
    ]
