from django.db import models


class CredentialKind(models.TextChoices):
    USERNAME_PASSWORD = "username_password", "Username and password"
    SSH_KEY = "ssh_key", "SSH private key"
    TOKEN_ENV = "token_env", "Token / environment variables"
