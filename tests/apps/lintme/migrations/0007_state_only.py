# Changes the migration state only: no column or table is renamed or dropped.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("lintme", "0006_accepted")]

    operations = [
        # db_column keeps the column name.
        migrations.RenameField(model_name="invoice", old_name="legacy", new_name="legacy_count"),
        # db_table keeps the table name, and no auto-created many-to-many table joins it.
        migrations.RenameModel(old_name="Gadget", new_name="Gizmo"),
        # An unmanaged model has no table for migrations to drop.
        migrations.DeleteModel(name="Report"),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveField(model_name="invoice", name="ref")],
            database_operations=[],
        ),
    ]
