from django.urls import path

from privacy import views

urlpatterns = [
    path("me/export/", views.ExportView.as_view(), name="me-export"),
    path("me/erase/", views.EraseView.as_view(), name="me-erase"),
]
