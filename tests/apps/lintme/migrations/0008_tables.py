from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintme", "0007_state_only")]

    operations = [
        migrations.RenameModel(old_name="Widget", new_name="Part"),
        # db_table keeps the table, but the join table's column is named after the model.
        migrations.RenameModel(old_name="Shelf", new_name="Rack"),
        migrations.DeleteModel(name="Tag"),
        migrations.AlterField(model_name="invoice", name="code", field=models.CharField(max_length=5)),
        migrations.AlterField(
            model_name="invoice", name="reference", field=models.IntegerField(db_column="ref_no")
        ),
        migrations.AlterModelTable(name="gizmo", table="lintme_gizmo"),
        migrations.AlterOrderWithRespectTo(name="line", order_with_respect_to=None),
        # The column type follows the key of the target: integer -> bigint.
        migrations.AlterField(
            model_name="line",
            name="box",
            field=models.ForeignKey(on_delete=models.deletion.CASCADE, to="lintme.crate"),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RemoveField(model_name="invoice", name="due")],
            state_operations=[],
        ),
    ]
