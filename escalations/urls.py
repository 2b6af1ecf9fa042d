from django.urls import path

app_name = "escalations"

urlpatterns: list = []
