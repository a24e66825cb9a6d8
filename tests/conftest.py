"""Fixtures shared by the cross-module tests."""
import pytest


@pytest.fixture(scope='session')
def tiny_dir(tmp_path_factory):
    "A tiny random Llama (culnig.testing.tiny_model, seeded) saved as a Hugging Face folder; tests only read it."
    from culnig.testing import tiny_model
    d = tmp_path_factory.mktemp('tiny')/'tiny-llama'
    model, tok = tiny_model('llama')
    model.save_pretrained(d); tok.save_pretrained(d)
    return d
