from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Invoice",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.IntegerField()),
                ("note", models.CharField(max_length=100)),
                ("amount", models.IntegerField()),
                ("code", models.CharField(max_length=10)),
                ("title", models.CharField(max_length=50)),
                ("legacy", models.IntegerField(db_column="legacy_col")),
                ("ref", models.CharField(max_length=20)),
                ("payload", models.TextField(default="{}")),
            ],
        ),
        migrations.CreateModel(
            name="Widget",
            fields=[("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
        ),
        migrations.CreateModel(
            name="Gadget",
            fields=[("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
            options={"db_table": "lintme_gadget_table"},
        ),
        migrations.CreateModel(
            name="Shelf",
            fields=[("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
            options={"db_table": "lintme_shelf_table"},
        ),
        migrations.CreateModel(
            name="Report",
            fields=[("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
            options={"managed": False},
        ),
        migrations.CreateModel(
            name="Crate",
            fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
        ),
        migrations.CreateModel(
            name="Box",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("widgets", models.ManyToManyField(to="lintme.widget")),
                ("shelves", models.ManyToManyField(to="lintme.shelf")),
            ],
        ),
        migrations.CreateModel(
            name="Line",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("invoice", models.ForeignKey(on_delete=models.deletion.CASCADE, to="lintme.invoice")),
                ("box", models.ForeignKey(on_delete=models.deletion.CASCADE, to="lintme.box")),
            ],
            options={"order_with_respect_to": "invoice"},
        ),
    ]
