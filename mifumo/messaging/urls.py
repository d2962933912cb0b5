from mifumo.messaging.views import campaigns, credits, estimate, sender_ids, sends, templates

urlpatterns = [
    *sends.urlpatterns,
    *estimate.urlpatterns,
    *credits.urlpatterns,
    *templates.urlpatterns,
    *sender_ids.urlpatterns,
    *campaigns.urlpatterns,
]
