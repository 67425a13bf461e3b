from django.db import models


class Role(models.TextChoices):
    PRODUCT_OWNER = "product_owner", "Product owner"
    SME = "sme", "Subject-matter expert"
    ENGINEER = "engineer", "Engineer"
    PLATFORM_LEAD = "platform_lead", "Platform lead"
    CHAPTER_LEAD = "chapter_lead", "Chapter lead"
