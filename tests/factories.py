"""factory_boy factories for Squadron's domain."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from catalogue.choices import ProductStatus
from catalogue.models import Category, Product
from runbooks.models import Credential, Runbook
from runbooks.services import runbook_set_playbook
from squads.choices import Role
from squads.models import Chapter, Membership, Squad

PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
"""


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-1")

    @factory.post_generation
    def _save(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            self.save()


class SquadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Squad
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"squad-{n}")
    name = factory.LazyAttribute(lambda squad: squad.slug.replace("-", " ").title())
    mission = "Keep things running"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    squad = factory.SubFactory(SquadFactory)
    role = Role.ENGINEER


class ChapterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chapter

    slug = factory.Sequence(lambda n: f"chapter-{n}")
    name = factory.LazyAttribute(lambda chapter: chapter.slug.title())


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"category-{n}")
    name = factory.LazyAttribute(lambda category: category.slug.replace("-", " ").title())


class RunbookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Runbook
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"runbook-{n}")
    name = factory.LazyAttribute(lambda runbook: runbook.slug.replace("-", " ").title())
    squad = factory.SubFactory(SquadFactory)
    timeout = 60

    @factory.post_generation
    def playbook(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            runbook_set_playbook(runbook=self, content=extracted or PLAYBOOK)


class CredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Credential

    slug = factory.Sequence(lambda n: f"credential-{n}")
    name = factory.LazyAttribute(lambda credential: credential.slug.title())
    squad = factory.SubFactory(SquadFactory)
    kind = "token_env"


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    slug = factory.Sequence(lambda n: f"product-{n}")
    name = factory.LazyAttribute(lambda product: product.slug.replace("-", " ").title())
    summary = "A useful service"
    category = factory.SubFactory(CategoryFactory)
    squad = factory.SubFactory(SquadFactory)
    status = ProductStatus.PUBLISHED
    runbook = factory.LazyAttribute(lambda product: RunbookFactory(squad=product.squad))
    form_schema = factory.LazyFunction(
        lambda: {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "title": "Name", "maxLength": 40}},
        }
    )
