"""The registry of discovery modes: what a mode declares (its options) and what it returns.

A mode is a module of this folder that registers itself when imported::

    register_mode(
        "rules",
        rules_mode,  # rows, **options -> ModeResult(issues, assignments, meta)
        options=[ModeOption("detectors", list, None, "detectors to run (default: all)")],
        help="deterministic detectors (truncation, refusal, ...); no model",
    )

:func:`get_mode` imports a mode's module on first use (``modes/<name>.py``, else every module of this
folder), so adding a mode is one module here and its test: ``discover(rows, mode="name")``, the CLI
flags of ``misattribution discover`` and the Space's mode choice all come from the declaration. A mode
registered from any other module (a plug-in, a test) works the same way once that module is imported.

A mode needs an LLM when one of its options is marked ``llm=True``; by convention its endpoint option is
called ``endpoint`` (what the Space passes when it has one). A mode declares the packages it needs in
``requires``; a missing one is a :class:`MissingDependencyError` that says what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from misattribution._extras import MissingExtraError, install_hint

if TYPE_CHECKING:
    import pandas as pd

    from misattribution.discovery.report import Issue

__all__ = [
    "MODES",
    "MissingDependencyError",
    "Mode",
    "ModeOption",
    "ModeResult",
    "UnknownModeError",
    "check_mode_options",
    "get_mode",
    "list_modes",
    "mode_names",
    "register_mode",
]

_PACKAGE = __name__.rpartition(".")[0]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnknownModeError(ValueError):
    """A mode name that no module registers."""


class MissingDependencyError(MissingExtraError):
    """A mode needs a package that is not installed (the message names the extra, from :mod:`misattribution._extras`)."""


class ModeResult(NamedTuple):
    """What every mode returns: its issues (no statistics), the assignments and its own meta.

    ``assignments`` has the columns ``row_id, issue_id, evidence``; ``meta["llm_calls"]`` (if any) is
    added up by :func:`~misattribution.discovery.pipeline.discover`.
    """

    issues: list[Issue]
    assignments: pd.DataFrame
    meta: dict[str, Any]

    @classmethod
    def of(cls, value: Any, mode: str) -> ModeResult:
        """``value`` as a ModeResult: a ModeResult, ``(issues, assignments)`` or ``(issues, assignments, meta)``."""
        from misattribution.discovery.report import ASSIGNMENT_COLUMNS

        if not isinstance(value, tuple) or len(value) not in (2, 3):
            raise TypeError(f"issue source {mode!r} must return (issues, assignments) or (issues, assignments, meta)")
        issues, assignments = list(value[0]), value[1]
        missing = [c for c in ASSIGNMENT_COLUMNS if c not in assignments.columns]
        if missing:
            raise ValueError(f"issue source {mode!r} returned assignments without the columns {missing}")
        return cls(issues, assignments, dict(value[2]) if len(value) == 3 else {})


@dataclass(frozen=True)
class ModeOption:
    """One option of a mode: a keyword argument of its function, and (``cli=True``) a CLI flag.

    Args:
        name: the keyword argument.
        type: ``str``, ``int``, ``float``, ``bool`` (a ``--flag/--no-flag`` pair) or ``list`` (comma-separated
            on the command line); any other type is documentation only (give ``parse``).
        default: the mode's default (documentation: the mode's function applies it).
        help: one line.
        llm: the option configures the LLM the mode calls (its endpoint, its model).
        cli: offered as a flag of ``misattribution discover`` (``False`` for Python objects: an encoder, a judge).
        flag: the flag, when not ``--`` + the name with hyphens.
        parse: turns the flag's text into the value (default: from ``type``); may raise ``ValueError``.
        choices: the allowed values, checked by :meth:`Mode.check_options`.
        required: the mode cannot run without it.
    """

    name: str
    type: Any = str
    default: Any = None
    help: str = ""
    llm: bool = False
    cli: bool = True
    flag: str | None = None
    parse: Callable[[str], Any] | None = None
    choices: tuple[Any, ...] | None = None
    required: bool = False

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def from_text(self, text: str) -> Any:
        """The value of the flag's ``text`` (``"none"`` is ``None`` for an option whose default is ``None``)."""
        if self.parse is not None:
            return self.parse(text)
        if self.default is None and text.strip().lower() == "none":
            return None
        if self.type is list:
            return [part.strip() for part in text.split(",") if part.strip()]
        if self.type in (int, float, str):
            try:
                return self.type(text)
            except ValueError:
                raise ValueError(f"not a{'n' if self.type is int else ''} {self.type.__name__}") from None
        return text

    def describe(self) -> str:
        """``help (default: x)``, as the CLI prints it."""
        kind = self.type.__name__ if isinstance(self.type, type) else str(self.type)
        extra = [f"default: {self.default!r}" if self.default is not None else "", "LLM" if self.llm else ""]
        if self.choices:
            extra.insert(0, "one of " + ", ".join(map(str, self.choices)))
        if self.required:
            extra.insert(0, "required")
        return f"{self.help} [{kind}{''.join('; ' + e for e in extra if e)}]"


@dataclass(frozen=True)
class Mode:
    """A registered mode: its function, its declared options and the packages it needs."""

    name: str
    run: Callable[..., Any]
    options: tuple[ModeOption, ...] = ()
    help: str = ""
    requires: tuple[str, ...] = ()
    validate: Callable[[Mapping[str, Any]], None] | None = field(default=None, repr=False)

    @property
    def needs_llm(self) -> bool:
        return any(option.llm for option in self.options)

    def option(self, name: str) -> ModeOption:
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(name)

    def check_requirements(self) -> None:
        """Raise :class:`MissingDependencyError` for a package in ``requires`` that is not installed."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                raise MissingDependencyError(
                    f"mode {self.name!r} needs the package {module!r}, which is not installed: {install_hint(module)}"
                )

    def check_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """``options`` checked against the declaration: names, required ones, choices, then ``validate``."""
        options = dict(options or {})
        names = [o.name for o in self.options]
        unknown = [k for k in options if k not in names]
        if unknown:
            known = ", ".join(names) if names else "none"
            raise ValueError(f"mode {self.name!r} has no option {', '.join(map(repr, unknown))}; its options: {known}")
        for option in self.options:
            if option.required and options.get(option.name) is None:
                raise ValueError(f"mode {self.name!r} needs its option {option.name!r} ({option.cli_flag})")
            value = options.get(option.name)
            if option.choices and value is not None:
                values = value if isinstance(value, (list, tuple)) else [value]
                bad = [v for v in values if v not in option.choices]
                if bad:
                    raise ValueError(
                        f"mode {self.name!r}: option {option.name!r} got {', '.join(map(repr, bad))}; "
                        f"choose from {', '.join(map(str, option.choices))}"
                    )
        if self.validate is not None:
            self.validate(options)
        return options

    def __call__(self, rows: pd.DataFrame, **options: Any) -> ModeResult:
        """Run the mode on IssueReport rows with checked options."""
        self.check_requirements()
        return ModeResult.of(self.run(rows, **self.check_options(options)), self.name)


#: Registered modes by name.
MODES: dict[str, Mode] = {}
_BROKEN: dict[str, str] = {}  # module → why it could not be imported


def register_mode(
    name: str,
    run: Callable[..., Any] | None = None,
    *,
    options: Iterable[ModeOption] = (),
    help: str = "",
    requires: Sequence[str] = (),
    validate: Callable[[Mapping[str, Any]], None] | None = None,
) -> Any:
    """Make ``run(rows, **options)`` available as ``discover(..., mode=name)`` (replacing an earlier one).

    Returns the :class:`Mode`; without ``run``, a decorator that registers the function it decorates.
    """
    if run is None:
        return lambda func: (
            register_mode(name, func, options=options, help=help, requires=requires, validate=validate),
            func,
        )[1]
    if not name or not _NAME.match(name):
        raise ValueError(f"a mode name is a Python identifier (no '+'), got {name!r}")
    options = tuple(options)
    duplicated = sorted({o.name for o in options if [p.name for p in options].count(o.name) > 1})
    if duplicated:
        raise ValueError(f"mode {name!r} declares the option(s) {duplicated} twice")
    mode = Mode(name, run, options, help or (run.__doc__ or "").strip().split("\n")[0], tuple(requires), validate)
    MODES[name] = mode
    return mode


def _import(module: str) -> None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and (err.name == module or module.startswith(err.name + ".")):
            raise
        raise MissingDependencyError(
            f"{module} needs the package {err.name!r}, which is not installed: {install_hint(err.name or '')}"
        ) from err


def _import_all() -> None:
    package = importlib.import_module(_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__):
        module = f"{_PACKAGE}.{info.name}"
        if info.name.startswith("_") or module in _BROKEN:
            continue
        try:
            _import(module)
        except MissingDependencyError as err:
            _BROKEN[module] = str(err)


def get_mode(name: str) -> Mode:
    """The mode registered as ``name``, importing its module on first use.

    Raises:
        UnknownModeError: no module registers it (the message names the known modes).
        MissingDependencyError: its module needs a package that is not installed.
    """
    if name not in MODES and _NAME.match(name or ""):
        if importlib.util.find_spec(f"{_PACKAGE}.{name}") is not None:
            _import(f"{_PACKAGE}.{name}")
        if name not in MODES:
            _import_all()
    if name not in MODES:
        broken = "".join(f"; {err}" for err in _BROKEN.values())
        raise UnknownModeError(f"unknown discovery mode {name!r}; known modes: {', '.join(mode_names())}{broken}")
    return MODES[name]


def list_modes(*, llm: bool = True) -> list[Mode]:
    """Every mode (each built-in module imported), ``clusters`` first; ``llm=False`` leaves out those needing an LLM."""
    _import_all()
    ordered = sorted(MODES.values(), key=lambda m: (m.name != "clusters", m.name))
    return [m for m in ordered if llm or not m.needs_llm]


def mode_names(*, llm: bool = True) -> list[str]:
    """The names of :func:`list_modes`."""
    return [m.name for m in list_modes(llm=llm)]


def check_mode_options(
    modes: Sequence[str], mode_options: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Each of ``modes`` resolved and its options checked: ``{mode: options}``, before anything runs.

    Raises:
        UnknownModeError: a mode is not registered.
        ValueError: ``mode_options`` names a mode not among ``modes``, or a mode gets an unknown option.
        MissingDependencyError: a mode needs a package that is not installed.
    """
    mode_options = dict(mode_options or {})
    stray = [name for name in mode_options if name not in modes]
    if stray:
        raise ValueError(
            f"mode_options for {', '.join(map(repr, stray))}, which is not among the modes run ({'+'.join(modes)})"
        )
    checked = {}
    for name in modes:
        mode = get_mode(name)
        mode.check_requirements()
        checked[name] = mode.check_options(mode_options.get(name))
    return checked
