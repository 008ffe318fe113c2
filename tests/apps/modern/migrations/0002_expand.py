# The expand: one AddField per transition, nullable, without the default.
import django
from django.db import migrations, models

operations = []
if django.VERSION >= (5, 0):
    operations += [
        migrations.AddField(
            model_name='ticket',
            name='status',
            field=models.CharField(max_length=20, null=True),
        ),
        migrations.AddField(
            model_name='ticket',
            name='priority',
            field=models.IntegerField(null=True),
        ),
        migrations.AddField(
            model_name='author',
            name='full_name',
            field=models.CharField(max_length=100, null=True),
        ),
    ]
if django.VERSION >= (5, 2):
    operations += [
        migrations.AddField(
            model_name='enrollment',
            name='grade',
            field=models.CharField(max_length=20, null=True),
        ),
        migrations.AddField(
            model_name='enrollment',
            name='credits',
            field=models.IntegerField(null=True),
        ),
    ]


class Migration(migrations.Migration):

    dependencies = [
        ('modern', '0001_initial'),
    ]

    operations = operations
