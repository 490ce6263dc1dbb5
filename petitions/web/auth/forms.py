"""Forms of registering, signing in and resetting a forgotten password."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from petitions.web.fields import email_field, name_field, new_password_field, strip


class RegisterForm(FlaskForm):
    """name, email, password."""

    name = name_field()
    email = email_field()
    password = new_password_field()


class LoginForm(FlaskForm):
    """email, password."""

    email = EmailField(
        "Email address",
        filters=[strip],
        validators=[DataRequired("Please enter your email address."), Length(max=254)],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Please enter your password."), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )


class ForgotPasswordForm(FlaskForm):
    """email."""

    email = email_field("Email address", required="Please enter an email address.", autocomplete="email")


class ResetPasswordForm(FlaskForm):
    """password."""

    password = new_password_field("New password", required="Please choose a new password.")
