"""The editor's form codec: inputs named by path become the resource, and back."""

from __future__ import annotations

from pingtree.console import forms


def test_paths_build_nested_mappings_and_lists() -> None:
    parsed = forms.parse_form(
        [
            ("name", " apex "),
            ("active:bool", "false"),
            ("active:bool", "true"),
            ("caps.daily", "10"),
            ("caps.hourly", ""),
            ("filters[0].field", "state"),
            ("filters[0].values:list", "CA, NV\nAZ"),
            ("filters[2].field", "age"),
            ("schedule.windows[0].days:list", "mon"),
            ("schedule.windows[0].days:list", "tue"),
            ("_action", "check"),
            ("csrf", "x"),
        ]
    )
    assert parsed.problems == {}
    assert parsed.data == {
        "name": "apex",
        "active": True,
        "caps": {"daily": "10"},
        "filters": [{"field": "state", "values": ["CA", "NV", "AZ"]}, {"field": "age"}],
        "schedule": {"windows": [{"days": ["mon", "tue"]}]},
    }


def test_blank_rows_and_groups_are_dropped_but_a_ticked_box_is_kept() -> None:
    parsed = forms.parse_form(
        [
            ("fields[0].name", "email"),
            ("fields[1].name", ""),
            ("fields[1].pii:bool", "false"),
            ("fields[2].pii:bool", "false"),
            ("fields[2].pii:bool", "true"),
            ("schedule.timezone", ""),
        ]
    )
    assert parsed.data == {"fields": [{"name": "email"}, {"pii": True}]}


def test_yaml_blocks_are_kept_whole_and_bad_yaml_is_named_by_its_input() -> None:
    parsed = forms.parse_form(
        [
            ("delivery:yaml", "post:\n  headers: {}\n  url: https://x.test\n"),
            ("screening:yaml", "a: ["),
        ]
    )
    assert parsed.data == {"delivery": {"post": {"headers": {}, "url": "https://x.test"}}}
    assert list(parsed.problems) == ["screening"]
    assert parsed.problems["screening"][0].startswith("not valid YAML (line 1)")


def test_settings_the_form_does_not_show_ride_along() -> None:
    row = {"name": "dob", "type": "date", "regex": r"\d+", "derived": None}
    hidden = forms.extras(row, ["name", "type"])
    parsed = forms.parse_form(
        [("fields[0].name", "dob"), ("fields[0].type", "date"), ("fields[0]._extra:json", hidden)]
    )
    assert parsed.data == {
        "fields": [{"name": "dob", "type": "date", "regex": r"\d+", "derived": None}]
    }


def test_row_buttons_add_remove_and_move() -> None:
    data = {"tiers": [{"name": "a"}, {"name": "b", "campaigns": [{"campaign": "x"}]}]}
    assert [t["name"] for t in forms.act(data, "down:tiers[0]")["tiers"]] == ["b", "a"]
    assert [t["name"] for t in forms.act(data, "up:tiers[1]")["tiers"]] == ["b", "a"]
    assert forms.act(data, "up:tiers[0]") == data  # the first cannot go higher
    assert forms.act(data, "remove:tiers[0]")["tiers"] == [data["tiers"][1]]
    added = forms.act(data, "add:tiers[1].campaigns")
    assert added["tiers"][1]["campaigns"] == [{"campaign": "x"}, {}]
    assert forms.act({}, "add:filters") == {"filters": [{}]}
    assert forms.act(data, "remove:tiers[7]") == data
    assert data["tiers"][0] == {"name": "a"}  # never changed in place


def test_values_as_inputs_show_them() -> None:
    data = {"caps": {"daily": 5}, "filters": [{"values": ["CA", "NV"]}], "active": False}
    assert forms.text(forms.dig(data, "caps.daily")) == "5"
    assert forms.text(forms.dig(data, "filters[0].values")) == "CA, NV"
    assert forms.text(forms.dig(data, "active")) == "false"
    assert forms.dig(data, "filters[3].values", None) is None
    assert forms.yaml_text({"post": {"headers": {}, "url": "u"}, "ping_fields": []}) == (
        "post:\n  url: u\nping_fields: []\n"
    )
    assert forms.input_id("tiers[0].campaigns[1].weight") == "f-tiers-0-campaigns-1-weight"
