from __future__ import annotations

from consumer.evaluation.nab_corpus import load_corpus
from consumer.evaluation.runner import run_corpus
from tests.evaluation.conftest import CorpusFactory, wave


def test_without_a_warmup_each_file_is_warmed_up_for_its_nab_probationary_period(make_corpus: CorpusFactory) -> None:
    # 400 rows: 60 rows of probation; 2,000 rows: 300
    data = make_corpus({"short/jump.csv": wave(400, jump_at=200), "long/jump.csv": wave(2000, jump_at=1000)})
    run = run_corpus(load_corpus(data))
    short, long = run.scores["short/jump.csv"], run.scores["long/jump.csv"]
    assert all(score == 0.0 for score in short[:60])
    assert all(score == 0.0 for score in long[:300])
    # each jump (4 ranges beyond anything seen, not a gross outlier) is scored after its file's probation
    assert short[200] == 1.0
    assert long[1000] == 1.0


def test_a_given_warmup_applies_to_every_file(make_corpus: CorpusFactory) -> None:
    data = make_corpus({"short/jump.csv": wave(400, jump_at=200)})
    run = run_corpus(load_corpus(data), warmup=750)
    assert all(score == 0.0 for score in run.scores["short/jump.csv"])
