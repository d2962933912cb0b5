"""The home page: what the organisation has and what it sent lately."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import path

from mifumo.contacts.models import Contact
from mifumo.delivery.models import Campaign
from mifumo.web.access import tenant_page


@tenant_page
def home(request):
    campaigns = Campaign.objects.filter(tenant=request.tenant).order_by("-created_at")[:5]
    return render(
        request,
        "web/home.html",
        {
            "contacts": Contact.objects.filter(tenant=request.tenant).count(),
            "campaigns": campaigns,
        },
    )


urlpatterns = [path("", home, name="home")]
