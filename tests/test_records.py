import json

import pytest

from vlmkit.measure import records
from vlmkit.measure.records import ResultsStore, latest_run, load_records


def make(tmp_path, **kw):
    store = ResultsStore("nb", tmp_path, "cpu")
    store.record("exp", model="m", precision="bf16", shapes={"image": [32, 32]}, repeats=3, metrics={"x": 1.5}, **kw)
    return store


def test_record_carries_full_provenance(tmp_path):
    store = make(tmp_path)
    (rec,) = load_records(store.path)
    assert rec["model"] == "m" and rec["precision"] == "bf16" and rec["repeats"] == 3
    assert rec["shapes"] == {"image": [32, 32]} and rec["metrics"] == {"x": 1.5}
    prov = rec["provenance"]
    assert prov["device"] == "cpu" and prov["device_name"].startswith("CPU") and prov["total_memory_bytes"] > 0
    assert {"python", "torch", "transformers", "bitsandbytes", "vlmkit"} <= set(prov["versions"])
    assert prov["versions"]["transformers"] and prov["timestamp"].endswith("+00:00")


def test_runs_are_told_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMKIT_RUN_ID", "first")
    make(tmp_path)
    monkeypatch.setenv("VLMKIT_RUN_ID", "second")
    store = make(tmp_path)
    store.record("exp2", model="m", precision="nf4", shapes={}, repeats=1, metrics={})
    everything = load_records(store.path)
    assert len(everything) == 3
    assert [r["run_id"] for r in latest_run(everything)] == ["second", "second"]
    assert len(store.records()) == 2


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    store = make(tmp_path)
    before = store.path.read_text()

    def broken_dump(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(records.json, "dump", broken_dump)
    with pytest.raises(RuntimeError, match="disk full"):
        store.record("exp", model="m", precision="bf16", shapes={}, repeats=1, metrics={})
    assert store.path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == [store.path.name]  # no temporary file left behind


def test_an_unreadable_file_is_kept_aside(tmp_path):
    path = tmp_path / "nb.json"
    path.write_text("{ not json")
    store = make(tmp_path)
    assert len(load_records(store.path)) == 1
    kept = [p for p in tmp_path.iterdir() if "unreadable" in p.name]
    assert len(kept) == 1 and kept[0].read_text() == "{ not json"


def test_results_are_plain_json(tmp_path):
    store = make(tmp_path)
    assert json.loads(store.path.read_text())["schema"] == records.SCHEMA_VERSION


def test_results_go_to_the_projects_build_folder_from_any_working_directory(monkeypatch, tmp_path):
    from vlmkit.measure.records import PROJECT_ROOT, default_results_dir

    monkeypatch.delenv("VLMKIT_RESULTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # e.g. a kernel started in notebooks/
    assert PROJECT_ROOT is not None and default_results_dir() == PROJECT_ROOT / "build" / "results"
    monkeypatch.setenv("VLMKIT_RESULTS_DIR", "elsewhere")
    assert default_results_dir() == tmp_path / "elsewhere"  # the runner's choice wins, made absolute


def test_experiment_records_are_the_latest_runs_of_one_experiment(tmp_path):
    from vlmkit.measure.records import experiment_records

    assert experiment_records(tmp_path, "00_x", "a") == []  # no file yet: nothing, not an error
    for run in ("old", "new"):
        store = ResultsStore("00_x", tmp_path, "cpu")
        store.run_id = run
        for experiment in ("a", "b"):
            store.record(experiment, model=None, precision=None, shapes={}, repeats=1, metrics={"run": run})
    found = experiment_records(tmp_path, "00_x", "a")
    assert [(r["run_id"], r["experiment"]) for r in found] == [("new", "a")]


def test_a_measurement_round_trips_through_a_results_file_under_its_committed_keys(tmp_path):
    from dataclasses import dataclass

    from vlmkit.measure.records import (
        Measurement,
        ResultsStore,
        metric,
        read_measurements,
    )

    @dataclass(frozen=True)
    class Query(Measurement):
        EXPERIMENT = "query-example"
        variant: str
        whole_query_ms: float = metric("whole query (ms)")
        tokens: int | None = metric("tokens", None)

    store = ResultsStore("99_example", tmp_path, "cpu")
    written = store.record_measurement(Query("eager", 12.5, 3), model="tiny", precision="bf16", shapes={}, repeats=2)
    assert written["experiment"] == "query-example"
    assert written["metrics"] == {"variant": "eager", "whole query (ms)": 12.5, "tokens": 3}
    store.record("other", model=None, precision=None, shapes={}, repeats=1, metrics={"x": 1})
    (back,) = read_measurements(Query, tmp_path, "99_example")
    assert back.measurement == Query("eager", 12.5, 3) and back.model == "tiny" and back.repeats == 2
    assert Query.from_metrics({"variant": "x", "whole query (ms)": 1.0, "extra": 0}) == Query("x", 1.0, None)
    with pytest.raises(KeyError, match="whole query"):
        Query.from_metrics({"variant": "x"})


def test_explanations_are_templates_filled_with_numbers_and_fail_on_a_missing_one(tmp_path, monkeypatch):
    import jinja2

    from vlmkit.book import prose

    (tmp_path / "99_example").mkdir()
    (tmp_path / "99_example" / "summary.md").write_text(
        "INT4 is {{ ratio|x }} BF16{% if ratio > 1 %}, faster{% endif %}: {{ share|pct }} of {{ card|gib }}.\n")
    monkeypatch.setattr(prose, "PROSE_DIR", tmp_path)
    assert prose.render("99_example/summary", ratio=1.284, share=0.571, card=12 * 2**30) == (
        "INT4 is 1.28x BF16, faster: 57 % of 12.00 GiB.\n")
    assert prose.explain("99_example/summary", ratio=0.9, share=0.5, card=1).data.startswith("INT4 is 0.90x BF16:")
    with pytest.raises(jinja2.UndefinedError):
        prose.render("99_example/summary", ratio=1.0)
