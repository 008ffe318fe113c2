from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintme", "0008_tables")]

    operations = [
        migrations.RunSQL("UPDATE lintme_invoice SET amount = '0' WHERE amount = ''", migrations.RunSQL.noop),
        migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop),
        # 0008 dropped the column in database_operations only: the state still has the field.
        migrations.AlterField(model_name="invoice", name="due", field=models.DateField(null=True, help_text="due")),
    ]
