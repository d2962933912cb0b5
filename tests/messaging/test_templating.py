"""mifumo.messaging.templating: {{variables}}, defaults, missing values and syntax errors."""

from __future__ import annotations

import pytest

from mifumo.messaging.templating import (
    CompiledTemplate,
    MissingVariable,
    TemplateSyntaxError,
    compile_template,
    contact_context,
    variable_key,
)

# --- Rendering ---------------------------------------------------------------------------------


def test_it_renders_a_variable():
    assert compile_template("Hello {{name}}").render({"name": "Asha"}) == "Hello Asha"


def test_it_allows_spaces_inside_the_braces():
    assert compile_template("Hello {{  name }}!").render({"name": "Asha"}) == "Hello Asha!"


def test_it_renders_several_variables_and_the_same_one_twice():
    template = compile_template("{{name}}: ada ya {{term}} ni {{fee}}. Asante {{name}}.")

    rendered = template.render({"name": "Asha", "term": "II", "fee": "150,000"})

    assert rendered == "Asha: ada ya II ni 150,000. Asante Asha."


def test_it_leaves_text_without_variables_as_it_is():
    text = "Shule itafungwa kesho saa 10. {single} braces are text; so is a | pipe."

    assert compile_template(text).render({}) == text


def test_it_matches_variable_names_whatever_their_case():
    template = compile_template("{{Name}} {{NAME}} {{nAmE}}")

    assert template.variables == frozenset({"name"})
    assert template.render({"name": "Juma"}) == "Juma Juma Juma"


def test_it_reads_names_in_any_script():
    template = compile_template("Habari {{jina_la_mwanafunzi}}, {{élève}} {{Имя}} {{ÉCOLE2}}")

    assert template.variables == frozenset({"jina_la_mwanafunzi", "élève", "имя", "école2"})
    context = {"jina_la_mwanafunzi": "Neema", "élève": "Émile", "имя": "Иван", "école2": "B"}
    assert template.render(context) == "Habari Neema, Émile Иван B"


def test_it_stringifies_numbers_and_writes_whole_floats_without_a_decimal_point():
    template = compile_template("{{fee}} {{balance}} {{rate}} {{paid}}")

    rendered = template.render({"fee": 150000.0, "balance": 2500, "rate": 0.5, "paid": True})

    assert rendered == "150000 2500 0.5 True"


def test_it_does_not_render_variables_inside_values():
    template = compile_template("Hi {{name}}")

    assert template.render({"name": "{{email}}"}) == "Hi {{email}}"


# --- Defaults ----------------------------------------------------------------------------------


def test_it_uses_the_default_when_the_value_is_absent():
    assert compile_template("Hello {{name|there}}").render({}) == "Hello there"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_it_uses_the_default_when_the_value_is_blank(value):
    assert compile_template("Hello {{name|there}}").render({"name": value}) == "Hello there"


def test_it_prefers_the_value_to_the_default():
    assert compile_template("Hello {{name|there}}").render({"name": "Asha"}) == "Hello Asha"


def test_it_keeps_spaces_inside_a_default_and_trims_its_ends():
    template = compile_template("Habari {{ name | mzazi mpendwa }},")

    assert template.render({}) == "Habari mzazi mpendwa,"


def test_it_accepts_an_empty_default_that_makes_a_variable_optional():
    assert compile_template("Dear {{title|}}Asha").render({}) == "Dear Asha"


def test_it_gives_the_same_variable_different_defaults_in_different_places():
    template = compile_template("{{name|Mzazi}}, ... {{name|mzazi}}")

    assert template.render({}) == "Mzazi, ... mzazi"
    assert template.variables == frozenset({"name"})


# --- Missing variables -------------------------------------------------------------------------


@pytest.mark.parametrize("context", [{}, {"name": None}, {"name": ""}, {"name": " \t"}])
def test_it_raises_missing_variable_rather_than_sending_the_braces(context):
    with pytest.raises(MissingVariable) as raised:
        compile_template("Hello {{name}}").render(context)

    assert raised.value.name == "name"


def test_it_names_the_missing_variable_in_lower_case():
    with pytest.raises(MissingVariable) as raised:
        compile_template("Ada ya {{Term}}").render({"name": "Asha"})

    assert raised.value.name == "term"
    assert "{{term}}" in str(raised.value)


def test_it_reports_every_missing_variable_in_a_preview_and_keeps_them_as_written():
    template = compile_template("{{name|Mzazi}}, ada ya {{ Term }} ni {{fee}}.")

    rendered, missing = template.render_partial({"fee": "5000"})

    assert rendered == "Mzazi, ada ya {{ Term }} ni 5000."
    assert missing == ["term"]


# --- Syntax errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("Hello {{}}", 6, "empty"),
        ("Hello {{  }} there", 6, "empty"),
        ("Hello {{name", 6, "never closed"),
        ("Hello {{name}} and {{fee", 19, "never closed"),
        ("Hello name}}", 10, "no '{{' before it"),
        ("Hello {{first name}}", 6, "no valid variable name"),
        ("Hello {{na-me}}", 6, "no valid variable name"),
        ("Hello {{{name}}}", 6, "no valid variable name"),
        ("Hello {{name|a {b}}", 6, "brace"),
        ("{{a {{b}}", 0, "never closed"),
    ],
)
def test_it_refuses_malformed_variables_naming_the_position(text, position, words):
    with pytest.raises(TemplateSyntaxError) as raised:
        compile_template(text)

    assert raised.value.position == position
    assert f"position {position}" in str(raised.value)
    assert words in str(raised.value)


def test_its_syntax_error_is_a_value_error():
    assert issubclass(TemplateSyntaxError, ValueError)


# --- Compiling ---------------------------------------------------------------------------------


def test_it_compiles_a_text_once():
    assert compile_template("Habari {{name}}") is compile_template("Habari {{name}}")


def test_it_lists_the_variables_it_detects():
    template = compile_template("{{first_name}} {{last_name|}} {{fee}}")

    assert template.text == "{{first_name}} {{last_name|}} {{fee}}"
    assert template.variables == frozenset({"first_name", "last_name", "fee"})


def test_it_also_works_when_built_directly():
    template = CompiledTemplate(text="Hi {{name|there}}", variables=frozenset({"name"}))

    assert template.render({}) == "Hi there"


# --- The context of a contact ------------------------------------------------------------------


def test_it_splits_the_name_into_first_and_last_names():
    context = contact_context(name="  Asha   Juma Mwinyi ", phone="+255712345678")

    assert context["name"] == "Asha Juma Mwinyi"
    assert context["first_name"] == "Asha"
    assert context["last_name"] == "Juma Mwinyi"
    assert context["phone"] == "+255712345678"
    assert context["email"] == ""


def test_it_gives_a_one_word_name_an_empty_last_name():
    context = contact_context(name="Neema")

    assert (context["first_name"], context["last_name"]) == ("Neema", "")


def test_it_lower_cases_attribute_names_and_joins_their_words_with_underscores():
    context = contact_context(attributes={"Class": "Form 2B", "Fee Amount": 5000, "ÉLÈVE": "x"})

    assert context["class"] == "Form 2B"
    assert context["fee_amount"] == 5000
    assert context["élève"] == "x"
    assert variable_key(" Jina la Mzazi ") == "jina_la_mzazi"


def test_its_extra_variables_override_attributes():
    context = contact_context(attributes={"fee": 5000}, extra={"Fee": 7000})

    assert context["fee"] == 7000


def test_its_blank_extra_values_do_not_hide_the_contacts_own():
    context = contact_context(
        name="Asha", attributes={"term": "II"}, extra={"name": "", "term": None}
    )

    assert context["name"] == "Asha"
    assert context["term"] == "II"


def test_it_renders_a_contact_through_its_context():
    template = compile_template("Habari {{first_name|mzazi}}, {{class}}: {{fee}}")
    context = contact_context(name="Asha Juma", attributes={"Class": "Form 2B", "fee": 5000.0})

    assert template.render(context) == "Habari Asha, Form 2B: 5000"
    assert template.render(contact_context(attributes={"class": "F1", "fee": 1})) == (
        "Habari mzazi, F1: 1"
    )


@pytest.mark.parametrize(
    ("given_name", "contact", "variables"),
    [
        ("  Juma   Ali ", None, None),
        ("", {"name": "Mwajuma  Hassan", "email": "", "attributes": {}}, None),
        ("", {"name": "Asha", "email": "", "attributes": {"Name": "Bi. Asha"}}, None),
        ("Baraka", {"name": "Baraka", "email": "", "attributes": {"form": "2B"}}, None),
        ("Neema", None, {"NAME": "Mama Neema"}),
        ("", None, None),
    ],
)
def test_a_bulk_sends_name_only_context_gives_what_the_full_one_does(
    given_name, contact, variables
):
    # A bulk send builds just {"name"} for "Habari {{name}}" when nothing can override it;
    # whatever the recipient, the text must come out as the full context renders it.
    from mifumo.messaging.services.sends import RecipientInput, _context

    recipient = RecipientInput(
        label="", phone="+255712345678", name=given_name, variables=variables
    )
    text = compile_template("Habari {{name|mzazi}}!")
    full = contact_context(
        name=given_name or (contact["name"] if contact else ""),
        phone="+255712345678",
        email="",
        attributes=contact["attributes"] if contact else None,
        extra=variables,
    )
    assert text.render(_context(recipient, contact, "+255712345678", text.variables)) == (
        text.render(full)
    )
