"""OpenAPI description of the integration API's bearer scheme (drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.integrations.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "sso_<prefix>.<secret>",
            "description": (
                "Agency-scoped API token (python manage.py create_api_token --agency "
                "SYSTEM_ID --name NAME prints it once). Sent as 'Authorization: Bearer "
                "<token>'. Revoked or unknown tokens get 401; too many requests 429."
            ),
        }
