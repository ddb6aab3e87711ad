from django.urls import URLPattern, path

from idme_sandbox.accounts import account_views, views

urlpatterns: list[URLPattern] = [
    path("", views.account_home, name="account_home"),
    path("sign-up/", views.sign_up, name="sign_up"),
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-in/mfa/", views.mfa_choose, name="mfa_choose"),
    path("sign-in/mfa/<str:device_id>/", views.mfa_method, name="mfa_method"),
    path("sign-in/mfa/<str:device_id>/code/", views.mfa_code, name="mfa_code"),
    path("sign-in/push/<str:txid>/", views.mfa_push, name="mfa_push"),
    path("sign-in/push/<str:txid>/status/", views.mfa_push_status, name="mfa_push_status"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("verify-identity/", views.verify_identity, name="verify_identity"),
    path("outbox/", views.outbox, name="outbox"),
    path("account/security/code-generator/", account_views.setup_code_generator, name="setup_code_generator"),
    path("account/security/push/", account_views.setup_push, name="setup_push"),
    path("account/security/phone/", account_views.setup_phone, name="setup_phone"),
    path("account/security/devices/<str:device_id>/rename/", account_views.rename_device, name="rename_device"),
    path("account/security/devices/<str:device_id>/delete/", account_views.delete_device, name="delete_device"),
    path("account/<slug:tab>/", account_views.account_tab, name="account"),
]
