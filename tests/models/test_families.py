"""The registered model families and what `advnets config` says about them: every family's `arch` comment lists
every family of its registry, so the meaning shown for the key never misses one."""

import dataclasses

from advnets.config_reference import field_comments
from advnets.models import DISCRIMINATORS, GENERATORS


def test_every_arch_comment_lists_every_family():
    for registry, player in ((GENERATORS, "generator"), (DISCRIMINATORS, "discriminator")):
        for name in registry.names():
            options = registry.options(name)
            assert {f.name: f.default for f in dataclasses.fields(options)}["arch"] == name
            comment = field_comments(options)["arch"]
            listed = comment.split(":", 1)[1].split("|")
            assert comment.startswith(f"{player} family:")
            assert {family.strip() for family in listed} == set(registry.names()), (name, comment)


def test_conditional_families_say_so():
    conditional = {"cond-mlp", "cond-dcgan", "cond-maxout"}
    for registry in (GENERATORS, DISCRIMINATORS):
        for name in registry.names():
            assert registry.get(name).conditional == (name in conditional), name
