"""Stage 2, resolve: references (squads, runbooks, categories, chapters,
dependencies) are looked up in the file and in the database together, the
people who could approve each step are counted, and the dependency graph is
searched for a cycle. Every row the file names is fetched once, here, for the
plan and write stages."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.utils.text import slugify

from catalogue.importing.errors import ErrorLog, format_path
from catalogue.importing.sections import sections
from catalogue.importing.specs import (
    ApprovalStepSpec,
    CategorySpec,
    DocPath,
    ExistingRows,
    ParsedFile,
    ProductRefs,
    RunbookRefs,
)
from catalogue.importing.values import EntryReader, model_field
from catalogue.models import Category, Operation, Product
from catalogue.selectors import approval_steps_in_order
from catalogue.services import dependency_edges, find_dependency_cycle
from runbooks.models import Runbook
from squads.models import Chapter, Membership, Squad
from squads.selectors import step_approvers


def resolve_references(parsed: ParsedFile, log: ErrorLog) -> ExistingRows:
    """The rows ``parsed`` names or refers to; wrong references go to ``log``."""
    resolver = Resolver(parsed, log)
    resolver.resolve()
    return resolver.rows


class Resolver(EntryReader):
    """Checks the parsed file against itself and the database."""

    def __init__(self, parsed: ParsedFile, log: ErrorLog) -> None:
        super().__init__(log)
        self.parsed = parsed
        self.rows = ExistingRows()

    def resolve(self) -> None:
        self._load_rows()
        self._resolve_categories()
        self._check_squads()
        for runbook in self.parsed.runbook_refs:
            self._check_runbook_move(runbook)
        declared_chapters = self.parsed.declared["chapters"].keys() | self.rows.chapter_rows.keys()
        for product in self.parsed.product_refs:
            self._check_product_runbook(product)
            for where, runbook_slug in product.operation_runbooks:
                self._check_runbook_owner(
                    where, runbook_slug, product.squad, "an operation runs its product's squad's"
                )
            self._check_dependencies(product)
            for step in product.approval_steps:
                self._check_approval_step(step, product.squad, declared_chapters)
        self._check_cycles()
        for section in sections():
            section.resolve(self.parsed, self.rows, self)

    def _declared_squads(self) -> set[str]:
        return self.parsed.declared["squads"].keys() | self.rows.squad_rows.keys()

    def _check_squads(self) -> None:
        declared_squads = self._declared_squads()
        for refs in self.parsed.refs():
            if refs.squad is not None and refs.squad not in declared_squads:
                self.log.error(
                    (*refs.where, "squad"),
                    f"unknown squad {refs.squad!r} (not in this file nor in the database)",
                )

    def _check_approval_step(
        self, step: ApprovalStepSpec, product_squad: str | None, declared_chapters: set[str]
    ) -> None:
        if step.squad and step.squad not in self._declared_squads():
            self.log.error(
                (*step.where, "squad"),
                f"unknown squad {step.squad!r} (not in this file nor in the database)",
            )
        if step.chapter and step.chapter not in declared_chapters:
            self.log.error(
                (*step.where, "chapter"),
                f"unknown chapter {step.chapter!r} (not in this file nor in the database)",
            )
            return
        self._check_approvers(step, product_squad)

    def _check_approvers(self, step: ApprovalStepSpec, product_squad: str | None) -> None:
        """As in the admin: a step needing more approvals than there are
        people to give them (after this import) would keep orders waiting
        forever."""
        people = self._approvers_after_import(step, product_squad)
        if people is not None and step.required > len(people):
            count = f"{len(people)} {'person' if len(people) == 1 else 'people'}"
            self.log.error(
                (*step.where, "approvals"),
                f"needs {step.required} approvals but only {count} can give them "
                "(counting this file's members): every order would wait forever",
            )

    def _approvers_after_import(self, step: ApprovalStepSpec, product_squad: str | None) -> set[str] | None:
        """Usernames who may decide ``step`` once the file is imported (members
        are added, never removed), or None when the squad is unknown."""
        if step.chapter:
            people: set[str] = set()
            row = self.rows.chapter_rows.get(step.chapter)
            if row is not None:
                people |= set(
                    step_approvers(squad_id=None, chapter_id=row.pk).values_list("username", flat=True)
                )
            for spec in self.parsed.chapters:
                if spec.slug == step.chapter:
                    people |= set(spec.members) | ({spec.lead} if spec.lead else set())
            return people
        squad = step.squad or product_squad
        if squad is None:
            return None
        roles: dict[str, str] = {}
        if squad in self.rows.squad_rows:
            roles.update(
                Membership.objects.filter(squad=self.rows.squad_rows[squad]).values_list(
                    "user__username", "role"
                )
            )
        for squad_spec in self.parsed.squads:
            if squad_spec.slug == squad:
                roles.update({member.username: member.role for member in squad_spec.members})
        return {name for name, role in roles.items() if not step.roles or role in step.roles}

    def _load_rows(self) -> None:
        """Fetch, once, every row the file names or refers to."""
        self._load_people()
        self._load_chapters()
        self.rows.category_rows = {category.slug: category for category in Category.objects.all()}
        self._load_runbooks()
        self._load_products()

    def _load_people(self) -> None:
        """The users, squads and squad memberships the file names."""
        parsed, rows = self.parsed, self.rows
        user_model = get_user_model()
        rows.user_rows = {
            getattr(user, user_model.USERNAME_FIELD): user
            for user in user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__in": parsed.usernames()})
        }
        squad_slugs = {spec.slug for spec in parsed.squads}
        squad_slugs |= {refs.squad for refs in parsed.refs() if refs.squad}
        squad_slugs |= {
            step.squad for refs in parsed.product_refs for step in refs.approval_steps if step.squad
        }
        rows.squad_rows = Squad.objects.in_bulk(squad_slugs, field_name="slug")
        memberships = Membership.objects.filter(squad__slug__in=squad_slugs).select_related("squad", "user")
        rows.membership_rows = {
            (membership.squad.slug, membership.user.get_username()): membership for membership in memberships
        }

    def _load_chapters(self) -> None:
        chapter_slugs = {spec.slug for spec in self.parsed.chapters}
        chapter_slugs |= {
            step.chapter for refs in self.parsed.product_refs for step in refs.approval_steps if step.chapter
        }
        chapters = Chapter.objects.filter(slug__in=chapter_slugs)
        self.rows.chapter_rows = {
            chapter.slug: chapter for chapter in chapters.select_related("lead").prefetch_related("members")
        }

    def _load_runbooks(self) -> None:
        runbook_slugs = {refs.slug for refs in self.parsed.runbook_refs if refs.slug}
        runbook_slugs |= {refs.runbook for refs in self.parsed.product_refs if refs.runbook}
        runbook_slugs |= {slug for refs in self.parsed.product_refs for _, slug in refs.operation_runbooks}
        runbooks = Runbook.objects.filter(slug__in=runbook_slugs).select_related("squad", "current_version")
        self.rows.runbook_rows = {runbook.slug: runbook for runbook in runbooks}

    def _load_products(self) -> None:
        product_slugs = {refs.slug for refs in self.parsed.product_refs if refs.slug}
        product_slugs |= {slug for refs in self.parsed.product_refs for slug in refs.depends_on}
        products = (
            Product.objects.filter(slug__in=product_slugs)
            .select_related("category", "squad", "runbook")
            .prefetch_related(
                Prefetch("depends_on", queryset=Product.objects.only("id", "slug")),
                Prefetch("approval_steps", queryset=approval_steps_in_order()),
                Prefetch(
                    "operations",
                    queryset=Operation.objects.select_related("runbook").prefetch_related(
                        Prefetch("approval_steps", queryset=approval_steps_in_order())
                    ),
                ),
            )
        )
        self.rows.product_rows = {product.slug: product for product in products}

    def _resolve_categories(self) -> None:
        """Give every category a slug and map each category name a product uses
        to the slug of the category it will be in after the import."""
        by_name = {category.name: category for category in self.rows.category_rows.values()}
        slugs: dict[str, DocPath] = {}
        names: dict[str, DocPath] = {}
        for spec in self.parsed.categories:
            name = spec.values["name"]
            if spec.slug is None:
                existing = by_name.get(name)
                spec.slug = existing.slug if existing else slugify(name)
                if not self.valid(model_field(Category, "slug"), spec.slug, (*spec.where, "name")):
                    # Still mapped, so that its products do not report it unknown too.
                    self.rows.category_slug_for_name[name] = spec.slug
                    continue
            if spec.slug in slugs:
                self.log.error(
                    (*spec.where, "slug"),
                    f"duplicate category slug {spec.slug!r}: already defined at "
                    f"{self.log.where_defined(slugs[spec.slug])}",
                )
            if name in names:
                self.log.error(
                    (*spec.where, "name"),
                    f"duplicate category name {name!r}: already defined at "
                    f"{self.log.where_defined(names[name])}",
                )
            slugs.setdefault(spec.slug, spec.where)
            names.setdefault(name, spec.where)
            holder = by_name.get(name)
            if holder is not None and holder.slug != spec.slug:
                self.log.error(
                    (*spec.where, "name"), f"category {holder.slug!r} already has the name {name!r}"
                )
            self.rows.category_slug_for_name[name] = spec.slug
        for refs in self.parsed.product_refs:
            if refs.category is not None:
                self._resolve_product_category(refs.category, (*refs.where, "category"), slugs)

    def _resolve_product_category(self, name: str, where: DocPath, listed: dict[str, DocPath]) -> None:
        """Map a category name that the ``categories`` list does not define:
        to the category of that name, or to a new one made from the name."""
        if name in self.rows.category_slug_for_name:
            return
        existing = next((row for row in self.rows.category_rows.values() if row.name == name), None)
        if existing is not None:
            if existing.slug in listed:
                self.log.error(
                    where, f"category {name!r} is renamed by this file (its slug is {existing.slug!r})"
                )
            else:
                self.rows.category_slug_for_name[name] = existing.slug
                # Reported as unchanged, so a re-import counts what the first one created.
                self.parsed.categories.append(
                    CategorySpec(where, existing.slug, {"name": name}, listed=False)
                )
            return
        slug = slugify(name)
        if not self.valid(model_field(Category, "slug"), slug, where):
            return
        taken = self.rows.category_rows.get(slug)
        if taken is not None or slug in listed:
            other = taken.name if taken is not None else format_path(listed[slug])
            self.log.error(
                where,
                f"a new category {name!r} would get the slug {slug!r}, which {other!r} already "
                "has; list it under categories with a slug of its own",
            )
            return
        self.rows.category_slug_for_name[name] = slug
        self.parsed.categories.append(
            CategorySpec(where, slug, {"name": name, "description": "", "position": 0}, listed=False)
        )

    def _check_runbook_move(self, refs: RunbookRefs) -> None:
        """A runbook handed to another squad must not leave products of its old
        squad (that this file does not move too) running another squad's runbook."""
        row = self.rows.runbook_rows.get(refs.slug or "")
        if row is None or refs.squad is None or row.squad.slug == refs.squad:
            return
        in_file = {product.slug for product in self.parsed.product_refs if product.slug}
        stranded = sorted(
            Product.objects.filter(runbook=row)
            .exclude(squad__slug=refs.squad)
            .exclude(slug__in=in_file)
            .values_list("slug", flat=True)
        )
        if stranded:
            self.log.error(
                (*refs.where, "squad"),
                f"runbook {refs.slug!r} cannot move to squad {refs.squad!r}: "
                f"products of squad {row.squad.slug!r} use it: {', '.join(stranded)}",
            )

    def _check_product_runbook(self, refs: ProductRefs) -> None:
        where = (*refs.where, "runbook")
        if refs.runbook is None:
            if refs.needs_runbook:
                self.log.error(
                    where,
                    "a published automated product needs a runbook (or fulfilment: manual, or status: draft)",
                )
            return
        self._check_runbook_owner(where, refs.runbook, refs.squad, "a product runs its own squad's")
        row = self.rows.runbook_rows.get(refs.runbook)
        if (
            refs.needs_runbook
            and refs.runbook not in self.parsed.runbook_squads
            and row is not None
            and row.current_version_id is None
        ):
            # A runbook of the file always brings its playbook; one already
            # stored may have none yet, and a published product on it could
            # not run its first order.
            self.log.error(
                where,
                f"runbook {refs.runbook!r} has no playbook yet: a published automated product "
                "could not run (give it a playbook, or status: draft)",
            )

    def _check_runbook_owner(self, where: DocPath, runbook: str, squad: str | None, rule: str) -> None:
        """``runbook`` exists (in the file or the database) and is ``squad``'s."""
        if runbook in self.parsed.runbook_squads:
            owner = self.parsed.runbook_squads[runbook]
        elif runbook in self.rows.runbook_rows:
            owner = self.rows.runbook_rows[runbook].squad.slug
        else:
            self.log.error(where, f"unknown runbook {runbook!r} (not in this file nor in the database)")
            return
        if squad is not None and owner != squad:
            self.log.error(
                where, f"runbook {runbook!r} belongs to squad {owner!r}; {rule} runbooks ({squad!r})"
            )

    def _check_dependencies(self, refs: ProductRefs) -> None:
        known = self.parsed.declared["products"].keys() | self.rows.product_rows.keys()
        for index, slug in enumerate(refs.depends_on):
            if slug == refs.slug:
                self.log.error((*refs.where, "depends_on", index), "a product cannot depend on itself")
            elif slug not in known:
                self.log.error(
                    (*refs.where, "depends_on", index),
                    f"unknown product {slug!r} (not in this file nor in the database)",
                )

    def _check_cycles(self) -> None:
        """Refuse dependencies that close a cycle, counting both the file's
        products (their lists replace what the database has) and the others'."""
        in_file = {refs.slug: refs for refs in self.parsed.product_refs if refs.slug}
        stored = dependency_edges()
        edges = dict(stored)
        for slug, refs in in_file.items():
            edges[slug] = {target for target in refs.depends_on if target != slug}
        # Only what the file's products can reach: a cycle elsewhere is not this file's doing.
        reachable: set[str] = set()
        pending = list(in_file)
        while pending:
            slug = pending.pop()
            if slug not in reachable:
                reachable.add(slug)
                pending.extend(edges.get(slug, ()))
        cycle = find_dependency_cycle({slug: edges.get(slug, set()) for slug in reachable})
        if cycle is None:
            return
        # Blame the product whose dependency this file adds (else any of the
        # file's products in the cycle), and start the cycle's story there.
        loop = cycle[:-1]
        in_loop = [index for index, slug in enumerate(loop) if slug in in_file]
        added = [
            index for index in in_loop if loop[(index + 1) % len(loop)] not in stored.get(loop[index], set())
        ]
        start = (added or in_loop or [0])[0]
        loop = loop[start:] + loop[:start]
        where = (*in_file[loop[0]].where, "depends_on") if loop[0] in in_file else ("products",)
        self.log.error(where, "these dependencies make a cycle: " + " → ".join([*loop, loop[0]]))
