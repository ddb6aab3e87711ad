from django.apps import AppConfig


class EprescribeConfig(AppConfig):
    name = "eprescribe"
    verbose_name = "e-Prescribing"
