"""`tfso-events validate`: JSON and NDJSON files of envelopes or API bodies, checked by line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import body, envelope, person, run, write_ndjson
from tfso_events.examples import sample_events


async def test_valid_files_of_every_shape_pass(tmp_path: Path) -> None:
    """NDJSON of API bodies, a JSON array of envelopes and one pretty-printed envelope
    all validate: exit 0 and a summary line with the counts."""
    events = sample_events()
    ndjson = write_ndjson(tmp_path / "bodies.ndjson", [body(e) for e in events])
    array = tmp_path / "envelopes.json"
    array.write_text(json.dumps([envelope(e) for e in events], indent=2))
    single = tmp_path / "one.json"
    single.write_text(json.dumps(envelope(events[0]), indent=4))
    done = await run("validate", str(ndjson), str(array), str(single))
    assert done.code == 0, done.out + done.err
    assert done.out == "validate: 9 records in 3 files: 9 valid, 0 invalid\n"


async def test_bad_records_are_reported_with_line_and_json_path(tmp_path: Path) -> None:
    """Each bad record is one line FILE:LINE: DETAIL-TYPE PATH: REASON; good ones are
    silent; exit 1."""
    good = body(person("Ada"))
    pink = body(person("Bob"))
    pink["detail"]["content"]["favoriteColor"] = "Pink"
    unknown = {**body(person("Cy")), "detailType": "bank.nothing:happened@v9"}
    wrong_source = {**envelope(person("Di")), "source": "com.example.other"}
    missing = body(person("Ed"))
    del missing["detail"]["content"]["lastName"]
    bad_time = {**envelope(person("Flo")), "time": "yesterday"}
    path = write_ndjson(
        tmp_path / "bad.ndjson",
        [good, pink, "", unknown, wrong_source, missing, bad_time, [1, 2], {"hello": 1}],
    )
    done = await run("validate", str(path))
    assert done.code == 1
    dt = "bank.test:created@v1"
    assert done.out.splitlines() == [
        f"{path}:2: {dt} $.detail.content.favoriteColor: Invalid enum value 'Pink'",
        f"{path}:4: $.detailType: unknown detail-type 'bank.nothing:happened@v9'; known: "
        "bank.test:created@v1, bank.transaction:created@v1, bank.transaction:deleted@v1, "
        "bank.transaction:statuschanged@v1",
        f"{path}:5: {dt} $.source: source 'com.example.other' does not match {dt}, whose "
        "source is 'com.24sevenoffice.banktransfer'",
        f"{path}:6: {dt} $.detail.content: Object missing required field `lastName`",
        f"{path}:7: {dt} $.time: Invalid RFC3339 encoded datetime",
        f"{path}:8: $: a record must be a JSON object",
        f"{path}:9: $: neither `detail-type` (an EventBridge envelope) nor `detailType` (an "
        "events API body {source, detailType, detail})",
        "validate: 8 records in 1 file: 1 valid, 7 invalid",
    ]


async def test_elements_of_a_json_array_are_reported_by_their_line(tmp_path: Path) -> None:
    """In a pretty-printed JSON array, a bad element is reported at the line where it
    starts."""
    records = [envelope(person("Ada")), envelope(person("Bob"))]
    records[1]["detail"]["content"]["registrationDate"] = "2024-01-02T03:04:05"  # naive
    path = tmp_path / "array.json"
    text = json.dumps(records, indent=2)
    path.write_text(text)
    second = text.splitlines().index("  {", 2) + 1
    done = await run("validate", str(path))
    assert done.code == 1
    assert done.out.splitlines()[0].startswith(
        f"{path}:{second}: bank.test:created@v1 $.detail.content.registrationDate: "
    )


async def test_broken_ndjson_lines_are_reported_and_the_rest_still_checked(
    tmp_path: Path,
) -> None:
    """Lines that are not JSON are reported by line (even the first), and every other
    line is still validated."""
    pink = body(person("Bob"))
    pink["detail"]["content"]["favoriteColor"] = "Pink"
    path = write_ndjson(
        tmp_path / "events.txt",
        [
            '{"source": "com.24sevenoffice',
            body(person("Ada")),
            "not json",
            pink,
            body(person("Cy")),
        ],
    )
    done = await run("validate", str(path))
    assert done.code == 1
    lines = done.out.splitlines()
    assert [line.split(": ", 2)[:2] for line in lines[:3]] == [
        [f"{path}:1", "not JSON"],
        [f"{path}:3", "not JSON"],
        [f"{path}:4", "bank.test:created@v1 $.detail.content.favoriteColor"],
    ]
    assert lines[3] == "validate: 5 records in 1 file: 2 valid, 3 invalid"


async def test_a_broken_json_document_is_reported_at_its_line(tmp_path: Path) -> None:
    """A pretty-printed document with a syntax error is one bad record at the error's line."""
    path = tmp_path / "broken.json"
    path.write_text('{\n  "source": "x",\n  "detailType": \n}\n')
    done = await run("validate", str(path))
    assert done.code == 1
    assert done.out.startswith(f"{path}:4: not JSON: ")


async def test_stdin_and_quiet(tmp_path: Path) -> None:
    """`-` reads standard input; --quiet prints only the summary."""
    pink = body(person("Bob"))
    pink["detail"]["content"]["favoriteColor"] = "Pink"
    data = "\n".join(json.dumps(r) for r in (body(person("Ada")), pink)).encode()
    done = await run("validate", "--quiet", "-", stdin=data)
    assert done.code == 1
    assert done.out == "validate: 2 records in 1 file: 1 valid, 1 invalid\n"


async def test_an_unreadable_file_exits_2_after_checking_the_others(tmp_path: Path) -> None:
    """A missing file is reported on stderr and makes the exit status 2; the other files
    are still checked."""
    good = write_ndjson(tmp_path / "good.ndjson", [body(person("Ada"))])
    done = await run("validate", str(tmp_path / "missing.ndjson"), str(good))
    assert done.code == 2
    assert "cannot read" in done.err
    assert "missing.ndjson" in done.err
    assert "1 valid, 0 invalid" in done.out


async def test_one_record_is_singular(tmp_path: Path) -> None:
    """The summary of a file of one record says "1 record in 1 file", not "1 records"."""
    path = write_ndjson(tmp_path / "one.ndjson", [body(person("Solo"))])
    done = await run("validate", str(path))
    assert done.out == "validate: 1 record in 1 file: 1 valid, 0 invalid\n"
