"""Sign-up, login and logout with a session, for the same users as the API."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.services import tenant_register
from mifumo.web.forms import LoginForm, SignupForm


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return "/"


def login_page(request):
    form = LoginForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request, username=form.cleaned_data["email"], password=form.cleaned_data["password"]
        )
        if user is not None:
            login(request, user)
            return redirect(_next_url(request))
        error = "Wrong e-mail or password."
    return render(
        request, "web/login.html", {"form": form, "error": error, "next": _next_url(request)}
    )


def signup_page(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = tenant_register(
                organization=data["organization"],
                name=data["name"],
                email=data["email"],
                password=data["password"],
                country=data["country"],
                timezone_name=data["timezone_name"],
            )
        except ApplicationError as error:
            form.add_error("email" if "mail" in error.message.lower() else None, error.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("/")
    return render(request, "web/signup.html", {"form": form})


@require_POST
def logout_page(request):
    logout(request)
    return redirect("/login/")


urlpatterns = [
    path("login/", login_page, name="login"),
    path("signup/", signup_page, name="signup"),
    path("logout/", logout_page, name="logout"),
]
