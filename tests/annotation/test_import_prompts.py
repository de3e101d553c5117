import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Prompt


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def jsonl(*rows):
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def test_jsonl_with_texts_and_conversations_is_imported(project, tmp_path):
    path = write(tmp_path, "p.jsonl", jsonl(
        {"prompt": "What is 2+2?", "id": "q1", "metadata": {"topic": "math"}},
        {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello!"},
                      {"role": "user", "content": "Tell me a joke."}]},
    ))
    call_command("import_prompts", project.slug, path)
    first, second = Prompt.objects.filter(project=project).order_by("pk")
    assert first.external_id == "q1" and first.metadata == {"topic": "math"}
    assert first.messages == [{"role": "user", "content": "What is 2+2?"}]
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "user"]
    assert {first.split, second.split} <= {"train", "test"}


def test_bad_json_on_line_3_names_the_line_and_imports_nothing(project, tmp_path):
    path = write(tmp_path, "p.jsonl", jsonl({"prompt": "a"}, {"prompt": "b"}, '{"prompt": "c"',
                                            {"prompt": "d"}))
    with pytest.raises(CommandError, match=r"line 3"):
        call_command("import_prompts", project.slug, path)
    assert Prompt.objects.filter(project=project).count() == 0


def test_missing_field_names_the_line_and_the_field(project, tmp_path):
    path = write(tmp_path, "p.jsonl", jsonl({"prompt": "a"}, {"text": "b"}))
    with pytest.raises(CommandError, match=r"line 2, field 'prompt'"):
        call_command("import_prompts", project.slug, path)
    assert Prompt.objects.filter(project=project).count() == 0


def test_bad_message_role_names_line_and_message(project, tmp_path):
    path = write(tmp_path, "p.jsonl", jsonl(
        {"prompt": "ok"}, {"messages": [{"role": "wizard", "content": "x"}]}))
    with pytest.raises(CommandError, match=r"line 2, field 'messages\[0\]\.role'"):
        call_command("import_prompts", project.slug, path)
    assert Prompt.objects.filter(project=project).count() == 0


def test_blank_lines_are_ignored_and_line_numbers_stay_physical(project, tmp_path):
    path = write(tmp_path, "p.jsonl", '{"prompt": "a"}\n\n{"prompt": ""}\n')
    with pytest.raises(CommandError, match=r"line 3"):
        call_command("import_prompts", project.slug, path)


def test_csv_with_extra_columns_keeps_them_as_metadata(project, tmp_path):
    path = write(tmp_path, "p.csv",
                 'external_id,prompt,topic\nq1,"Write a poem,\nplease",poetry\nq2,Hi there,chat\n')
    call_command("import_prompts", project.slug, path)
    prompts = Prompt.objects.filter(project=project).order_by("pk")
    assert [p.external_id for p in prompts] == ["q1", "q2"]
    assert prompts[0].messages[0]["content"] == "Write a poem,\nplease"
    assert prompts[1].metadata == {"topic": "chat"}


def test_csv_bad_row_names_its_physical_line(project, tmp_path):
    path = write(tmp_path, "p.csv", 'prompt\n"multi\nline"\n""\n')
    with pytest.raises(CommandError, match=r"line 4, field 'prompt'"):
        call_command("import_prompts", project.slug, path)
    assert Prompt.objects.filter(project=project).count() == 0


def test_csv_without_a_prompt_column_is_refused(project, tmp_path):
    path = write(tmp_path, "p.csv", "question\nwhy?\n")
    with pytest.raises(CommandError, match=r"'prompt' column"):
        call_command("import_prompts", project.slug, path)


def test_reimporting_the_same_file_adds_nothing(project, tmp_path, capsys):
    path = write(tmp_path, "p.jsonl", jsonl({"prompt": "a", "id": "1"}, {"prompt": "b"}))
    call_command("import_prompts", project.slug, path)
    call_command("import_prompts", project.slug, path)
    assert Prompt.objects.filter(project=project).count() == 2
    assert "2 duplicates skipped" in capsys.readouterr().out


def test_unknown_project_is_refused(db, tmp_path):
    path = write(tmp_path, "p.jsonl", jsonl({"prompt": "a"}))
    with pytest.raises(CommandError, match="no project"):
        call_command("import_prompts", "nope", path)


def test_non_utf8_file_names_the_line(project, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"prompt": "a"}\n{"prompt": "\xff"}\n')
    with pytest.raises(CommandError, match=r"line 2"):
        call_command("import_prompts", project.slug, str(path))


def test_seed_demo_is_idempotent_and_gives_the_labeler_an_item(db, capsys):
    from django.contrib.auth import get_user_model

    from annotation.models import Project
    from annotation.services.queue import item_claim_next

    call_command("seed_demo")
    call_command("seed_demo")
    project = Project.objects.get(slug="demo-pairwise")
    assert project.items.count() == 12
    alice = get_user_model().objects.get(username="alice")
    assert item_claim_next(project=project, labeler=alice) is not None
    assert "alice (labeler)" in capsys.readouterr().out


def test_create_api_token_prints_a_token_that_authenticates(labeler, capsys):
    from annotation.models import ApiToken
    from annotation.services.tokens import token_authenticate

    call_command("create_api_token", labeler.username)
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    assert token_authenticate(raw).user == labeler
    assert raw.split(".")[1] not in ApiToken.objects.get(user=labeler).key_hash
