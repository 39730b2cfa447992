"""The docs check (localdev/docs_check.py): the repository's own Markdown passes it, and each of its rules finds what
it is there to find, in a small repository made for the test, and nothing in its correct twin."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from localdev.docs_check import Repository, check
from localdev.markdown import Document, slug


def test_the_readme_and_docs_link_only_to_what_exists_and_their_commands_name_only_what_exists() -> None:
    assert [str(finding) for finding in check()] == []


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A repository with a Makefile, a template, a sample event, a doc, and an ignored build folder."""
    (tmp_path / "Makefile").write_text(
        "PORT ?= 3001\n.PHONY: demo invoke\ndemo:\n\techo demo\n"
        "invoke:\n\techo $(FUNCTION) $(EVENT) $(PORT) $(PARAMETERS)\n"
    )
    (tmp_path / "template.yaml").write_text(
        "Parameters:\n  SourceQueueArn: {Type: String}\n  LogLevel: {Type: String}\nResources: {}\n"
    )
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "sqs-standard.json").write_text("{}")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "RUNBOOK.md").write_text("# Runbook\n\n## Parked events\n\n## Parked events\n")
    (tmp_path / ".gitignore").write_text(".venv/\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def findings(root: Path, readme: str) -> list[str]:
    (root / "README.md").write_text(textwrap.dedent(readme))
    return [f"{finding.line}: {finding.message}" for finding in check(Repository(root))]


@pytest.mark.parametrize(
    ("readme", "found"),
    [
        ("See [the runbook](docs/RUNBOOK.md).\n", []),
        (
            "See [the runbook](docs/RUN-BOOK.md).\n",
            ["1: link to docs/RUN-BOOK.md: docs/RUN-BOOK.md is not in the repository"],
        ),
        ("[Parked](docs/RUNBOOK.md#parked-events-1), [top](#readme).\n\n# Readme\n", []),
        (
            "[Parked](docs/RUNBOOK.md#parked-events-2)\n",
            ["1: link to docs/RUNBOOK.md#parked-events-2: no heading of docs/RUNBOOK.md makes #parked-events-2"],
        ),
        ("[up](#deploy)\n\n## Deploy — with `sam`\n", ["1: link to #deploy: no heading of README.md makes #deploy"]),
        ("[up](#deploy--with-sam)\n\n## Deploy — with `sam`\n", []),
        ("[venv](.venv/bin)\n", ["1: link to .venv/bin: .venv/bin is not in the repository"]),  # not in a clone
        ("[out of it](../elsewhere.md)\n", ["1: link to ../elsewhere.md: ../elsewhere.md is not in the repository"]),
        ("[AWS](https://aws.amazon.com/#nothing) and `[not](a-link.md)`\n", []),
        ("[Lambda][lambda-docs]\n", ["1: reference link [lambda-docs] has no definition"]),
        ("[Lambda][lambda-docs]\n\n[lambda-docs]: https://docs.aws.amazon.com/lambda/\n", []),
        (
            "[events]: events/missing.json\n",
            ["1: link to events/missing.json: events/missing.json is not in the repository"],
        ),
        ("The targets are in DEVELOPERS.md.\n", ["1: DEVELOPERS.md is named, and is not in the repository"]),
        ("The runbook is docs/RUNBOOK.md; this is README.md.\n", []),
    ],
)
def test_links_and_anchors_resolve_as_github_resolves_them(repository: Path, readme: str, found: list[str]) -> None:
    assert findings(repository, readme) == found


@pytest.mark.parametrize(
    ("readme", "found"),
    [
        ("Run `make demo`.\n", []),
        ("Run `make demo-all`.\n", ["1: make demo-all: no such target in the Makefile"]),
        ("```sh\nmake invoke FUNCTION=SqsForwarderFunction EVENT=events/sqs-standard.json PORT=3002\n```\n", []),
        (
            "```sh\nmake invoke FUNCTON=SqsForwarderFunction EVENT=events/sqs-standrd.json\n```\n",
            [
                "2: make variable FUNCTON is not used by the Makefile",
                "2: events/sqs-standrd.json does not exist in the repository",
            ],
        ),
        (
            "```bash\nmake demo && make lint   # a comment: make nothing\n```\n",
            ["2: make lint: no such target in the Makefile"],
        ),
        ("```\nmake lint   (not a shell sample: no language)\n```\n", []),
        ("```sh\n.venv/bin/python -m localdev.nothing --url x\n```\n", []),  # .venv is made, localdev is not ours here
        (
            "```sh\ncurl --data @events/sqs-standard.json file://events/missing.json\n```\n",
            ["2: events/missing.json does not exist in the repository"],
        ),
        (
            "```sh\nsam deploy \\\n  --parameter-overrides SourceQueueArn=arn:aws:sqs:us-east-1:1:q LogLevl=DEBUG \\\n"
            "  --capabilities CAPABILITY_IAM\n```\n",
            ["2: LogLevl is no parameter of template.yaml"],
        ),
        (
            "```sh\naws cloudformation create-stack --parameters ParameterKey=QueueArn,ParameterValue=x\n```\n",
            ["2: QueueArn is no parameter of template.yaml"],
        ),
        (
            "```sh\nmake invoke PARAMETERS='LogLevel=DEBUG SourceQueue=x'\n```\n",
            ["2: SourceQueue is no parameter of template.yaml"],
        ),
        ("```sh\nMIXPANEL_API_URL=http://127.0.0.1:8765 STACK=forwarder make demo\n```\n", []),
        (
            "```sh\nMIXPANEL_REGOIN=EU make demo\nexport MIXPANEL_TOKEN=abc\n```\n",
            [
                "2: MIXPANEL_REGOIN is no setting of the forwarder (setting_names.py)",
                "3: MIXPANEL_TOKEN is no setting of the forwarder (setting_names.py)",
            ],
        ),
        (
            "Name `docs/RUNBOOK.md`, `events/`, `.venv/bin/sam`, `python/`; not `docs/RUN.md`.\n",
            ["1: docs/RUN.md does not exist in the repository"],
        ),
        (
            "```sh\nsam deploy --parameter-overrides 'SourceQueueArn=arn:aws:sqs:us-east-1:1:q LogLevl=DEBUG'\n```\n",
            ["2: LogLevl is no parameter of template.yaml"],
        ),
        (
            "```sh\naws lambda update-function-configuration \\\n"
            '  --environment "Variables={MIXPANEL_REGION=EU,TRANSFORM=x}"\n```\n',
            ["2: TRANSFORM is no setting of the forwarder (setting_names.py)"],
        ),
        (
            '```json\n{"Parameters": {"AWS_REGION": "us-east-1"},\n'
            ' "SqsForwarderFunction": {"MIXPANEL_REGOIN": "EU"}}\n```\n',
            ["2: MIXPANEL_REGOIN is no setting of the forwarder (setting_names.py)"],
        ),
        (
            "```sh\npython3 - <<'EOF'\nimport boto3  # make nothing, docs/none.md\nEOF\nmake lint\n```\n",
            ["5: make lint: no such target in the Makefile"],
        ),
        (
            "```console\n$ make demo\nmake lint: an output line\n$ make lint\n```\n",
            ["4: make lint: no such target in the Makefile"],
        ),
    ],
)
def test_sample_commands_name_only_targets_files_parameters_and_settings_that_exist(
    repository: Path, readme: str, found: list[str]
) -> None:
    assert findings(repository, readme) == found


def test_a_parameter_or_variable_column_names_only_parameters_or_settings(repository: Path) -> None:
    readme = """\
        | parameter | default |
        |---|---|
        | `SourceQueueArn`, `LogLevel` | empty |
        | `SourceQueueArns` | empty |

        | variable | meaning |
        |---|---|
        | `MIXPANEL_REGION` / `RETRY_BASE_SECONDS` | |
        | `AWS_REGION`, `POWERTOOLS_TRACE_DISABLED` | Lambda's, Powertools' |
        | `MIXPANEL_REGOIN` | a near miss, named as an example elsewhere: not in this column |

        | setting | raise it when |
        |---|---|
        | `SqsBatchSizes`, `NOT_A_SETTING` | not checked: a column of both kinds |
        """

    assert findings(repository, readme) == [
        "4: SourceQueueArns is no parameter of template.yaml",
        "10: MIXPANEL_REGOIN is no setting of the forwarder (setting_names.py)",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        (
            "Kinesis: what waits, what Lambda gives up on, and how it comes back",
            "kinesis-what-waits-what-lambda-gives-up-on-and-how-it-comes-back",
        ),
        ("Segment spec (Segment, RudderStack)", "segment-spec-segment-rudderstack"),
        ("`PAYLOAD_FORMAT` and **more**", "payload_format-and-more"),
        ("Deploy — in 15 minutes", "deploy--in-15-minutes"),
        ("[Linked](https://example.com) heading", "linked-heading"),
        ("Déjà vu: Ünïcode", "déjà-vu-ünïcode"),
    ],
)
def test_a_headings_anchor_is_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_repeated_heading_gets_githubs_suffix_and_code_is_not_read() -> None:
    document = Document.parse("# Notes\n\n```md\n# Not a heading\n[not](a-link.md)\n```\n\n## Notes\n\n### Notes\n")

    assert document.anchors == {"notes", "notes-1", "notes-2"}
    assert document.links == []
