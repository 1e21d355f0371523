"""Forms on object types (storage/forms/definitions.py: fields, widgets, settings), their
management (manage.py) and public submissions (submissions.py)."""

from storage.forms.manage import (
    create_form,
    delete_form,
    duplicate_form,
    list_forms,
    update_form,
)
from storage.forms.submissions import (
    export_form_submissions,
    form_captcha,
    form_notification,
    form_parts,
    get_form_analytics,
    list_form_submissions,
    submit_form,
    view_form,
)

__all__ = ["create_form", "delete_form", "duplicate_form", "export_form_submissions",
           "form_captcha", "form_notification", "form_parts", "get_form_analytics",
           "list_form_submissions", "list_forms", "submit_form", "update_form", "view_form"]
