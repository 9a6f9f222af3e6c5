from __future__ import annotations

import pytest

from consumer.evaluation.nab_corpus import CorpusError, load_corpus
from tests.evaluation.conftest import CorpusFactory


@pytest.mark.parametrize("beside", [True, False])
def test_windows_are_found_beside_or_inside_and_placed_on_rows(make_corpus: CorpusFactory, beside: bool) -> None:
    data = make_corpus(
        {"b/two.csv": [1.0] * 30, "a/one.csv": [2.0] * 20},
        windows={"a/one.csv": [(12, 15), (3, 5)]},
        windows_beside=beside,
    )
    corpus = load_corpus(data)
    assert [s.key for s in corpus] == ["a/one.csv", "b/two.csv"]
    one = corpus[0]
    assert one.windows == ((3, 5), (12, 15))
    assert one.folder == "a" and one.file_name == "one.csv"
    assert len(one.values) == len(one.timestamps) == len(one.ts_ms) == 20
    assert one.ts_ms[1] - one.ts_ms[0] == 300_000
    assert corpus[1].windows == ()


def test_a_missing_windows_file_or_bad_csv_is_a_corpus_error(make_corpus: CorpusFactory) -> None:
    data = make_corpus({"a/one.csv": [1.0, 2.0]})
    (data.parent / "windows.json").unlink()
    with pytest.raises(CorpusError, match=r"windows\.json"):
        load_corpus(data)
    with pytest.raises(CorpusError, match="cannot read windows file"):
        load_corpus(data, data / "missing.json")
    (data / "windows.json").write_text("{}")
    (data / "a" / "one.csv").write_text("time,val\n")
    with pytest.raises(CorpusError, match="header"):
        load_corpus(data)
