from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("lintme", "0003_rename_field")]

    operations = [
        migrations.RemoveField(model_name="invoice", name="note"),
    ]
