app_name = "agency_admin"

urlpatterns: list = []
