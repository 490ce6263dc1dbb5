"""Forms of registering, signing in and resetting a forgotten password."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from petitions.extensions import lazy_text as _l
from petitions.web.fields import email_field, name_field, new_password_field, strip


class RegisterForm(FlaskForm):
    """name, email, password."""

    name = name_field()
    email = email_field()
    password = new_password_field()


class LoginForm(FlaskForm):
    """email, password."""

    email = EmailField(
        _l("Email address"),
        filters=[strip],
        validators=[DataRequired(_l("Please enter your email address.")), Length(max=254)],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Please enter your password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )


class ForgotPasswordForm(FlaskForm):
    """email."""

    email = email_field(_l("Email address"), required=_l("Please enter an email address."), autocomplete="email")


class ResetPasswordForm(FlaskForm):
    """password."""

    password = new_password_field(_l("New password"), required=_l("Please choose a new password."))
