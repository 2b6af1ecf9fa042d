"""Authentication backend: Django's ModelBackend, with a user's permissions read in one
query instead of two.

Every web page and API request checks role permissions; ModelBackend reads the user's
own permissions and their groups' permissions in two queries (then caches them on the
user object for the rest of the request). One UNION query gives the same set."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission


class RoleBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                perms = Permission.objects.all().values_list("content_type__app_label", "codename")
            else:
                own = Permission.objects.filter(user=user_obj).values_list("content_type__app_label", "codename")
                via_groups = Permission.objects.filter(group__user=user_obj).values_list(
                    "content_type__app_label", "codename"
                )
                perms = own.order_by().union(via_groups.order_by())
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in perms}
        return user_obj._perm_cache
