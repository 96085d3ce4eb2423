"""The two-level error taxonomy and the score scale, loaded from versioned data files.

A taxonomy is a YAML file (see ``taxonomies/attridata-v1.yaml``): primary categories, each with its
secondary categories, and the score scale the judge uses. The package ships two:

* ``attridata-v1`` (default): 6 primary / 15 secondary categories (a documented reconstruction),
* ``misattributionllm-2024``: the 9 / 19 table of the first MisAttributionLLM paper.

Users load their own with ``load_taxonomy("path/to/file.yaml")``.

A secondary category may list ``examples`` (and ``examples_zh``): short shortcoming sentences in the
voice of a judge that belong to it. Issue discovery maps a judge's feedback to categories by its
similarity to these examples and the definition (:mod:`misattribution.discovery.tree`); without
examples only the name and definition are used.

A *misattribution* is a list of secondary category ids (multi-label); an empty list means no error.

Example:
    >>> from misattribution import load_taxonomy
    >>> tax = load_taxonomy()
    >>> tax.get("结果错误").id
    'result_error'
    >>> tax.primary_of("result_error").name_en
    'Reasoning Capability'
    >>> tax.get("ＬＯＮＧ-TERM memory  loss").id
    'long_term_memory_loss'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TAXONOMY = "attridata-v1"
_ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_SEPARATORS = re.compile(r"[\s_\-\u2010-\u2015]+")
# A blank between two CJK characters is not a word break ("结果 错误" is "结果错误").
_CJK = r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff]"
_CJK_GAP = re.compile(rf"(?<={_CJK}) (?={_CJK})")


class TaxonomyError(ValueError):
    """A taxonomy file is malformed; the message names the file and the field."""


def _safe_load(text: str) -> Any:
    """``yaml.safe_load`` with libyaml's C loader when PyYAML has it (the same safe constructors; the
    taxonomy loads on every Space start, 0.1-0.4 s faster so)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader


def normalize_name(text: str) -> str:
    """Fold a category name for lookup: width (NFKC), case, runs of blanks, ``_`` and dashes.

    >>> normalize_name("  Long-term_Memory   LOSS ")
    'long term memory loss'
    >>> normalize_name("结果 错误")
    '结果错误'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _CJK_GAP.sub("", _SEPARATORS.sub(" ", text))
    return text.strip(" \t\n\"'`*.")


@dataclass(frozen=True)
class Category:
    """One category. ``primary`` is the id of its parent, or ``None`` for a primary category."""

    id: str
    name_en: str
    name_zh: str
    definition: str = ""
    primary: str | None = None
    aliases: tuple[str, ...] = ()
    definition_zh: str = ""
    examples: tuple[str, ...] = ()
    examples_zh: tuple[str, ...] = ()

    @property
    def is_primary(self) -> bool:
        return self.primary is None

    def name(self, language: str = "en") -> str:
        """The display name in ``language`` ("en" or "zh")."""
        return self.name_zh if language.startswith("zh") else self.name_en

    def describe(self, language: str = "en") -> str:
        """The definition in ``language``, falling back to English."""
        return (self.definition_zh or self.definition) if language.startswith("zh") else self.definition

    def examples_in(self, language: str = "en") -> tuple[str, ...]:
        """The example shortcoming sentences in ``language`` (no fallback: examples are matched by wording)."""
        return self.examples_zh if language.startswith("zh") else self.examples


@dataclass(frozen=True)
class ScoreLevel:
    value: int
    name_en: str
    name_zh: str
    description: str = ""
    description_zh: str = ""

    def name(self, language: str = "en") -> str:
        return self.name_zh if language.startswith("zh") else self.name_en

    def describe(self, language: str = "en") -> str:
        """The description in ``language``, falling back to English."""
        return (self.description_zh or self.description) if language.startswith("zh") else self.description


@dataclass(frozen=True)
class ScoreScale:
    """The judge's integer score scale, declared with the taxonomy.

    ``error_below``: a misattribution is expected exactly when ``score < error_below``.
    """

    min: int
    max: int
    levels: tuple[ScoreLevel, ...]
    error_below: int

    def __contains__(self, score: object) -> bool:
        try:
            value = float(score)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return value.is_integer() and self.min <= value <= self.max

    @property
    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1))

    def level(self, score: int) -> ScoreLevel:
        for level in self.levels:
            if level.value == score:
                return level
        raise KeyError(f"no score level {score} on the scale {self.min}-{self.max}")

    def expects_error(self, score: int) -> bool:
        """Whether the paper's rule wants a non-empty misattribution for this score."""
        return score < self.error_below


@dataclass(frozen=True)
class Taxonomy:
    """A two-level error taxonomy with its score scale.

    Build one with :func:`load_taxonomy`; lookups accept an id, or a name or alias in English or
    Chinese, ignoring case, character width and whitespace.
    """

    name: str
    version: str
    primaries: tuple[Category, ...]
    secondaries: tuple[Category, ...]
    scale: ScoreScale
    description: str = ""
    reconstructed: bool = False
    source: str | None = None
    _index: dict[str, Category] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Category] = {}
        origin: dict[str, str] = {}  # folded name -> the field it came from, for the error message
        for category in (*self.primaries, *self.secondaries):
            keys = [("id", category.id), ("name_en", category.name_en), ("name_zh", category.name_zh)]
            keys += [("aliases", alias) for alias in category.aliases]
            for field_name, key in keys:
                folded = normalize_name(key)
                other = index.get(folded)
                if other is not None and other.id != category.id:
                    raise TaxonomyError(
                        f"{self.source or self.name}: {category.id}.{field_name} {key!r} is the same name as "
                        f"{other.id}.{origin[folded]} (names are compared ignoring case, width and spaces)"
                    )
                index[folded] = category
                origin.setdefault(folded, field_name)
        object.__setattr__(self, "_index", index)

    # -- lookup ---------------------------------------------------------------------------------
    def resolve(self, key: str) -> Category | None:
        """The category named by ``key`` (id, name or alias, either language), or ``None``."""
        if not isinstance(key, str):
            return None
        return self._index.get(normalize_name(key))

    def get(self, key: str) -> Category:
        """Like :meth:`resolve` but raises ``KeyError`` naming the unknown key."""
        category = self.resolve(key)
        if category is None:
            raise KeyError(f"{key!r} is not a category of the taxonomy {self.name!r}")
        return category

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.resolve(key) is not None

    def primary_of(self, key: str) -> Category:
        """The primary category of a secondary (a primary is its own primary)."""
        category = self.get(key)
        return category if category.is_primary else self.get(category.primary)  # type: ignore[arg-type]

    def children(self, key: str) -> list[Category]:
        """The secondary categories under a primary."""
        primary = self.get(key)
        return [c for c in self.secondaries if c.primary == primary.id]

    @property
    def secondary_ids(self) -> list[str]:
        return [c.id for c in self.secondaries]

    @property
    def primary_ids(self) -> list[str]:
        return [c.id for c in self.primaries]

    def names(self, language: str = "en") -> list[str]:
        """Secondary display names, in taxonomy order."""
        return [c.name(language) for c in self.secondaries]

    # -- misattribution lists -------------------------------------------------------------------
    def normalize_labels(self, labels: list[str] | tuple[str, ...] | None) -> list[str]:
        """Map names or ids to secondary ids, de-duplicated, in taxonomy order.

        Raises ``KeyError`` on an unknown name or a primary category (ambiguous as a label).
        """
        if labels is None:
            return []
        ids: set[str] = set()
        for label in labels:
            category = self.get(label)
            if category.is_primary:
                raise KeyError(f"{label!r} is a primary category; a misattribution lists secondary ones")
            ids.add(category.id)
        return [cid for cid in self.secondary_ids if cid in ids]

    def primaries_of(self, labels: list[str]) -> list[str]:
        """Primary ids of a misattribution list, de-duplicated, in taxonomy order."""
        wanted = {self.primary_of(label).id for label in labels}
        return [pid for pid in self.primary_ids if pid in wanted]

    # -- exports --------------------------------------------------------------------------------
    def class_label(self) -> Any:
        """The secondary categories as a ``datasets.ClassLabel`` (names are the ids)."""
        from datasets import ClassLabel

        return ClassLabel(names=self.secondary_ids)

    def primary_class_label(self) -> Any:
        """The primary categories as a ``datasets.ClassLabel``."""
        from datasets import ClassLabel

        return ClassLabel(names=self.primary_ids)

    def to_dict(self) -> dict[str, Any]:
        """The YAML structure this taxonomy was loaded from (round-trips through :func:`from_dict`)."""

        def entry(category: Category) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": category.id,
                "name_en": category.name_en,
                "name_zh": category.name_zh,
                "definition": category.definition,
            }
            if category.definition_zh:
                out["definition_zh"] = category.definition_zh
            if category.aliases:
                out["aliases"] = list(category.aliases)
            if category.examples:
                out["examples"] = list(category.examples)
            if category.examples_zh:
                out["examples_zh"] = list(category.examples_zh)
            return out

        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "reconstructed": self.reconstructed,
            "scale": {
                "min": self.scale.min,
                "max": self.scale.max,
                "error_below": self.scale.error_below,
                "levels": [
                    {
                        "value": lv.value,
                        "name_en": lv.name_en,
                        "name_zh": lv.name_zh,
                        "description": lv.description,
                        "description_zh": lv.description_zh,
                    }
                    for lv in self.scale.levels
                ],
            },
            "categories": [{**entry(p), "children": [entry(c) for c in self.children(p.id)]} for p in self.primaries],
        }

    def save(self, path: str | Path) -> None:
        """Write the taxonomy as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8")


# -- loading --------------------------------------------------------------------------------------
def _require(mapping: Any, key: str, where: str, source: str, kind: type | tuple[type, ...] = str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise TaxonomyError(f"{source}: {where} is missing the field {key!r}")
    value = mapping[key]
    wrong_type = not isinstance(value, kind) or (isinstance(value, bool) and kind is int)
    if wrong_type or (isinstance(value, str) and not value.strip()):
        raise TaxonomyError(f"{source}: {where}.{key} must be a non-empty {getattr(kind, '__name__', kind)}")
    return value


def _category(raw: Any, where: str, source: str, primary: str | None) -> Category:
    cid = _require(raw, "id", where, source)
    if not _ID_PATTERN.match(cid):
        raise TaxonomyError(f"{source}: {where}.id {cid!r} must be snake_case (e.g. 'result_error')")
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise TaxonomyError(f"{source}: {where}.aliases must be a list of strings")
    examples = {key: _examples(raw, key, where, source, primary) for key in ("examples", "examples_zh")}
    return Category(
        id=cid,
        name_en=_require(raw, "name_en", where, source),
        name_zh=_require(raw, "name_zh", where, source),
        definition=str(raw.get("definition", "")).strip(),
        definition_zh=str(raw.get("definition_zh", "")).strip(),
        primary=primary,
        aliases=tuple(aliases),
        **examples,
    )


def _examples(raw: dict[str, Any], key: str, where: str, source: str, primary: str | None) -> tuple[str, ...]:
    """The optional list of example sentences ``raw[key]``, checked: only secondary categories have them."""
    value = raw.get(key)
    if value is None:
        return ()
    if primary is None:
        raise TaxonomyError(
            f"{source}: {where}.{key}: examples belong to the secondary categories (the 'children'), "
            "which issues are mapped to"
        )
    if not isinstance(value, list):
        raise TaxonomyError(f"{source}: {where}.{key} must be a list of sentences")
    for k, sentence in enumerate(value):
        if not isinstance(sentence, str) or not sentence.strip():
            raise TaxonomyError(f"{source}: {where}.{key}[{k}] must be a non-empty string, not {sentence!r}")
    return tuple(sentence.strip() for sentence in value)


def _scale(raw: Any, source: str) -> ScoreScale:
    lo = _require(raw, "min", "scale", source, int)
    hi = _require(raw, "max", "scale", source, int)
    if lo >= hi:
        raise TaxonomyError(f"{source}: scale.min ({lo}) must be below scale.max ({hi})")
    error_below = raw.get("error_below", hi)
    if isinstance(error_below, bool) or not isinstance(error_below, int) or not lo < error_below <= hi + 1:
        raise TaxonomyError(f"{source}: scale.error_below must be an integer in ({lo}, {hi + 1}]")
    raw_levels = raw.get("levels") or []
    if not isinstance(raw_levels, list):
        raise TaxonomyError(f"{source}: scale.levels must be a list")
    levels = []
    for i, level in enumerate(raw_levels):
        where = f"scale.levels[{i}]"
        value = _require(level, "value", where, source, int)
        if not lo <= value <= hi:
            raise TaxonomyError(f"{source}: {where}.value {value} is outside {lo}-{hi}")
        levels.append(
            ScoreLevel(
                value=value,
                name_en=_require(level, "name_en", where, source),
                name_zh=_require(level, "name_zh", where, source),
                description=str(level.get("description", "")).strip(),
                description_zh=str(level.get("description_zh", "")).strip(),
            )
        )
    if sorted(lv.value for lv in levels) != list(range(lo, hi + 1)):
        raise TaxonomyError(f"{source}: scale.levels must describe each score from {lo} to {hi} once")
    return ScoreScale(min=lo, max=hi, levels=tuple(sorted(levels, key=lambda lv: -lv.value)), error_below=error_below)


def from_dict(data: dict[str, Any], *, source: str = "<dict>") -> Taxonomy:
    """Build a :class:`Taxonomy` from its YAML structure, checking every field."""
    if not isinstance(data, dict):
        raise TaxonomyError(f"{source}: the top level must be a mapping")
    name = _require(data, "name", "the file", source)
    raw_categories = _require(data, "categories", "the file", source, list)
    if not raw_categories:
        raise TaxonomyError(f"{source}: the field 'categories' is an empty list")
    primaries, secondaries, seen = [], [], set()
    for i, raw in enumerate(raw_categories):
        primary = _category(raw, f"categories[{i}]", source, None)
        children = raw.get("children") or []
        if not isinstance(children, list) or not children:
            raise TaxonomyError(f"{source}: categories[{i}] ({primary.id}) needs a non-empty 'children' list")
        primaries.append(primary)
        for j, child in enumerate(children):
            secondaries.append(_category(child, f"categories[{i}].children[{j}]", source, primary.id))
    for category in (*primaries, *secondaries):
        if category.id in seen:
            raise TaxonomyError(f"{source}: the id {category.id!r} is used twice")
        seen.add(category.id)
    return Taxonomy(
        name=name,
        version=str(data.get("version", "")),
        description=str(data.get("description", "")).strip(),
        reconstructed=bool(data.get("reconstructed", False)),
        primaries=tuple(primaries),
        secondaries=tuple(secondaries),
        scale=_scale(_require(data, "scale", "the file", source, dict), source),
        source=source,
    )


def available_taxonomies() -> list[str]:
    """Names of the taxonomies shipped with the package."""
    folder = resources.files("misattribution") / "taxonomies"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=16)
def _load_builtin(name: str) -> Taxonomy:
    path = resources.files("misattribution") / "taxonomies" / f"{name}.yaml"
    return from_dict(_safe_load(path.read_text(encoding="utf-8")), source=f"{name}.yaml")


def load_taxonomy(name_or_path: str | Path | Taxonomy | None = None) -> Taxonomy:
    """Load a shipped taxonomy by name (default ``attridata-v1``) or a user's YAML file by path.

    >>> load_taxonomy("misattributionllm-2024").primary_of("safety_concerns").id
    'safety'
    """
    if isinstance(name_or_path, Taxonomy):
        return name_or_path
    name = str(name_or_path or DEFAULT_TAXONOMY)
    if name in available_taxonomies():
        return _load_builtin(name)
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{name!r} is neither a shipped taxonomy ({', '.join(available_taxonomies())}) nor a file"
        )
    try:
        data = _safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise TaxonomyError(f"{path}: not UTF-8 text: {err}") from err
    except yaml.YAMLError as err:
        raise TaxonomyError(f"{path}: not valid YAML: {err}") from err
    return from_dict(data, source=str(path))
