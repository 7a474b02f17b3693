from django.conf import settings


def platform(request):
    return {"APP_VERSION": settings.APP_VERSION, "SITE_URL": settings.SITE_URL}
