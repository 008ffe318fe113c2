from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rename', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='customer',
            name='full_name',
            field=models.CharField(max_length=200, null=True),
        ),
        migrations.AddField(
            model_name='order',
            name='reference',
            field=models.CharField(db_index=True, max_length=50, null=True),
        ),
        migrations.AddField(
            model_name='tag',
            name='slug',
            field=models.CharField(max_length=40, null=True, unique=True),
        ),
    ]
