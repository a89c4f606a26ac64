//! The PATCH engine's behaviour, as `azure` and RFC connections read requests.
use super::*;
use crate::scim::resource::normalize_resource;
use crate::scim::rules::Rules;
use crate::scim::schema::{Registry, ENTERPRISE_URN};
use serde_json::json;

fn user_doc(reg: &Registry) -> Map<String, Value> {
    normalize_resource(
        &reg.user,
        &json!({"userName": "ada@x.com", "active": true, "name": {"givenName": "Ada", "familyName": "L"},
                "emails": [{"value": "ada@x.com", "type": "work", "primary": true}]}),
        &Rules::rfc(),
    )
    .unwrap()
}

/// Applies a PATCH as an `azure` connection reads it.
fn patch(reg: &Registry, doc: &mut Map<String, Value>, body: Value) -> ScimResult<bool> {
    patch_with(&Rules::entra(), reg, doc, body)
}

fn patch_with(
    rules: &Rules,
    reg: &Registry,
    doc: &mut Map<String, Value>,
    body: Value,
) -> ScimResult<bool> {
    let ops = parse_patch_request(&body, rules)?;
    apply_patch(&reg.user, doc, &ops, rules)
}

#[test]
fn rfc_dialect_refuses_entra_only_shapes() {
    let reg = Registry::embedded().unwrap();
    let rfc = Rules::rfc();
    let code = |body: Value| {
        let mut doc = user_doc(&reg);
        let before = doc.clone();
        let err = patch_with(&rfc, &reg, &mut doc, body).unwrap_err();
        assert_eq!(doc, before);
        err.scim_type.map(|t| t.as_str())
    };
    let no_match = ops(
        json!([{"op": "replace", "path": "emails[type eq \"nosuch\"].value", "value": "n@x.com"}]),
    );
    assert_eq!(code(no_match), Some("noTarget"));
    let by_value = ops(
        json!([{"op": "replace", "path": "emails[value eq \"nomatch@example.com\"].type", "value": "home"}]),
    );
    assert_eq!(code(by_value), Some("noTarget"));
    assert_eq!(code(ops(json!([]))), Some("invalidValue"));
    let capitalised = ops(json!([{"op": "Replace", "path": "displayName", "value": "X"}]));
    assert_eq!(code(capitalised), Some("invalidSyntax"));
    let string_bool = ops(json!([{"op": "replace", "path": "active", "value": "False"}]));
    assert_eq!(code(string_bool), Some("invalidValue"));
    let no_schemas =
        json!({"Operations": [{"op": "replace", "path": "displayName", "value": "X"}]});
    assert_eq!(code(no_schemas), Some("invalidSyntax"));
    let scalar = ops(json!([{"op": "add", "path": "emails", "value": {"value": "b@x.com"}}]));
    assert_eq!(code(scalar), Some("invalidValue"));
}

#[test]
fn entra_creates_only_typed_values_of_its_documented_attributes() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    let by_value = ops(
        json!([{"op": "replace", "path": "emails[value eq \"nomatch@example.com\"].type", "value": "home"}]),
    );
    let err = patch(&reg, &mut doc, by_value).unwrap_err();
    assert_eq!(err.scim_type, Some(crate::scim::ScimType::NoTarget));
    let entitlements =
        ops(json!([{"op": "replace", "path": "entitlements[type eq \"x\"].value", "value": "v"}]));
    assert!(patch(&reg, &mut doc, entitlements).is_err());
}

#[test]
fn patch_operation_count_is_capped() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    let op = json!({"op": "replace", "path": "displayName", "value": "X"});
    let many = vec![op; Rules::rfc().limits.patch_operations + 1];
    let err = patch_with(&Rules::rfc(), &reg, &mut doc, ops(Value::Array(many))).unwrap_err();
    assert_eq!(err.status, 413);
}

fn ops(list: Value) -> Value {
    json!({"schemas": [PATCH_OP_URN], "Operations": list})
}

#[test]
fn sc6_entra_capitalised_replace_with_string_boolean() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    patch(
        &reg,
        &mut doc,
        ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .unwrap();
    assert_eq!(doc["active"], json!(false));
}

#[test]
fn sc6_pathless_replace_with_dotted_and_urn_keys() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    let body = ops(json!([{"op": "replace", "value": {
        "displayName": "Ada King", "name.givenName": "Augusta",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984", "id": "ignored"}}]));
    patch(&reg, &mut doc, body).unwrap();
    assert_eq!(doc["displayName"], "Ada King");
    assert_eq!(doc["name"]["givenName"], "Augusta");
    assert_eq!(doc["name"]["familyName"], "L");
    assert_eq!(doc[ENTERPRISE_URN]["employeeNumber"], "701984");
}

#[test]
fn sc6_replace_value_path_creates_missing_element() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    let body = ops(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x.com"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}]));
    patch(&reg, &mut doc, body).unwrap();
    assert_eq!(
        doc["emails"],
        json!([{"value": "new@x.com", "type": "work", "primary": true}])
    );
    assert_eq!(
        doc["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
}

#[test]
fn sc6_manager_shapes_are_all_stored_as_complex() {
    let reg = Registry::embedded().unwrap();
    let path = format!("{ENTERPRISE_URN}:manager");
    for value in [
        json!("m1"),
        json!({"value": "m1"}),
        json!([{"value": "m1", "$ref": null}]),
    ] {
        let mut doc = user_doc(&reg);
        patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "Add", "path": path, "value": value}])),
        )
        .unwrap();
        assert_eq!(doc[ENTERPRISE_URN]["manager"], json!({"value": "m1"}));
        patch(&reg, &mut doc, ops(json!([{"op": "Remove", "path": path}]))).unwrap();
        assert!(doc.get(ENTERPRISE_URN).is_none());
    }
}

#[test]
fn sc6_add_email_as_primary_clears_other_primary() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    let body = ops(
        json!([{"op": "add", "path": "emails", "value": [{"value": "b@x.com", "type": "home", "primary": true}]}]),
    );
    patch(&reg, &mut doc, body).unwrap();
    let primaries: Vec<_> = doc["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == true)
        .collect();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0]["value"], "b@x.com");
}

#[test]
fn sc6_failed_operation_leaves_resource_unchanged() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    let before = doc.clone();
    let body = ops(
        json!([{"op": "replace", "path": "displayName", "value": "X"}, {"op": "replace", "path": "active", "value": "maybe"}]),
    );
    assert!(patch(&reg, &mut doc, body).is_err());
    assert_eq!(doc, before);
}

#[test]
fn sc6_remove_without_path_is_no_target_and_required_is_mutability() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    let err = patch(&reg, &mut doc, ops(json!([{"op": "remove"}]))).unwrap_err();
    assert_eq!(err.scim_type, Some(crate::scim::error::ScimType::NoTarget));
    let err = patch(
        &reg,
        &mut doc,
        ops(json!([{"op": "remove", "path": "userName"}])),
    )
    .unwrap_err();
    assert_eq!(
        err.scim_type,
        Some(crate::scim::error::ScimType::Mutability)
    );
}

#[test]
fn sc6_empty_operations_is_a_no_op_and_unchanged_reports_false() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    assert!(!patch(&reg, &mut doc, ops(json!([]))).unwrap());
    assert!(!patch(
        &reg,
        &mut doc,
        ops(json!([{"op": "add", "path": "active", "value": true}]))
    )
    .unwrap());
}

#[test]
fn sc6_remove_with_value_filter_and_null_replace_unassigns() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    patch(
        &reg,
        &mut doc,
        ops(json!([{"op": "remove", "path": "emails[type eq \"WORK\"]"}])),
    )
    .unwrap();
    assert!(doc.get("emails").is_none());
    patch(
        &reg,
        &mut doc,
        ops(json!([{"op": "replace", "path": "name.givenName", "value": null}])),
    )
    .unwrap();
    assert_eq!(doc["name"], json!({"familyName": "L"}));
    patch(
        &reg,
        &mut doc,
        ops(json!([{"op": "replace", "path": "name.familyName", "value": ""}])),
    )
    .unwrap();
    assert!(doc.get("name").is_none());
}

#[test]
fn sc6_read_only_path_is_mutability_error() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    let err = patch(
        &reg,
        &mut doc,
        ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
    )
    .unwrap_err();
    assert_eq!(
        err.scim_type,
        Some(crate::scim::error::ScimType::Mutability)
    );
}

#[test]
fn sc6_wrong_schema_urn_and_unknown_op_are_invalid_syntax() {
    let reg = Registry::embedded().unwrap();
    let mut doc = user_doc(&reg);
    assert!(patch(&reg, &mut doc, json!({"schemas": ["x"], "Operations": []})).is_err());
    assert!(patch(&reg, &mut doc, ops(json!([{"op": "move", "path": "x"}]))).is_err());
}

#[test]
fn sc10_immutable_attribute_is_set_once_then_refuses_changes() {
    let dir = tempfile::tempdir().unwrap();
    let urn = "urn:ietf:params:scim:schemas:extension:Hr:2.0:User";
    let schema = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": urn, "name": "Hr",
        "attributes": [{"name": "personnelId", "type": "string", "mutability": "immutable"}]});
    std::fs::write(dir.path().join("hr.json"), schema.to_string()).unwrap();
    let reg = Registry::with_dir(dir.path()).unwrap();
    let mut doc = user_doc(&reg);
    let path = format!("{urn}:personnelId");
    patch(
        &reg,
        &mut doc,
        ops(json!([{"op": "add", "path": path, "value": "P1"}])),
    )
    .unwrap();
    patch(
        &reg,
        &mut doc,
        ops(json!([{"op": "replace", "path": path, "value": "P1"}])),
    )
    .unwrap();
    let err = patch(
        &reg,
        &mut doc,
        ops(json!([{"op": "replace", "path": path, "value": "P2"}])),
    )
    .unwrap_err();
    assert_eq!(
        err.scim_type,
        Some(crate::scim::error::ScimType::Mutability)
    );
    assert_eq!(doc[urn]["personnelId"], "P1");
}

fn named(reg: &Registry) -> Map<String, Value> {
    normalize_resource(
        &reg.user,
        &json!({"userName": "a@x.com", "name": {"givenName": "A", "familyName": "B"}}),
        &Rules::rfc(),
    )
    .unwrap()
}

#[test]
fn unassigning_one_sub_attribute_keeps_the_others_rfc7644_3_5_2_3() {
    let reg = Registry::embedded().unwrap();
    let cases = [
        json!([{"op": "replace", "path": "name", "value": {"givenName": ""}}]),
        json!([{"op": "replace", "path": "name", "value": {"givenName": null}}]),
        json!([{"op": "replace", "value": {"name": {"givenName": ""}}}]),
        json!([{"op": "add", "path": "name", "value": {"givenName": ""}}]),
        json!([{"op": "add", "value": {"name": {"givenName": null}}}]),
    ];
    for rules in [Rules::rfc(), Rules::entra()] {
        for case in &cases {
            let mut doc = named(&reg);
            patch_with(&rules, &reg, &mut doc, ops(case.clone())).unwrap();
            assert_eq!(doc["name"], json!({"familyName": "B"}), "{case}");
        }
    }
    let mut doc = named(&reg);
    let both = ops(
        json!([{"op": "replace", "path": "name", "value": {"givenName": "", "familyName": null}}]),
    );
    patch(&reg, &mut doc, both).unwrap();
    assert!(doc.get("name").is_none());
    let mut doc = named(&reg);
    let set = ops(json!([{"op": "replace", "path": "name", "value": {"middleName": "M"}}]));
    patch(&reg, &mut doc, set).unwrap();
    assert_eq!(
        doc["name"],
        json!({"givenName": "A", "familyName": "B", "middleName": "M"})
    );
}

#[test]
fn one_primary_after_a_filtered_add_or_replace_rfc7643_2_4() {
    let reg = Registry::embedded().unwrap();
    let mut doc = normalize_resource(
        &reg.user,
        &json!({"userName": "a@x.com",
                "emails": [{"value": "a@x.com", "type": "work"}, {"value": "b@x.com", "type": "work"},
                           {"value": "h@x.com", "type": "home", "primary": true}],
                "phoneNumbers": [{"value": "1", "type": "home"}, {"value": "2", "type": "home"}]}),
        &Rules::rfc(),
    )
    .unwrap();
    let primaries = |doc: &Map<String, Value>, attr: &str| {
        doc[attr]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["primary"] == json!(true))
            .count()
    };
    for rules in [Rules::rfc(), Rules::entra()] {
        let mut d = doc.clone();
        let add =
            ops(json!([{"op": "add", "path": "emails[type eq \"work\"].primary", "value": true}]));
        patch_with(&rules, &reg, &mut d, add).unwrap();
        assert_eq!(primaries(&d, "emails"), 1);
        assert_eq!(d["emails"][0]["primary"], json!(true));
        let replace = ops(
            json!([{"op": "replace", "path": "phoneNumbers[type eq \"home\"]",
                                  "value": {"value": "3", "primary": true}}]),
        );
        patch_with(&rules, &reg, &mut d, replace).unwrap();
        assert_eq!(
            d["phoneNumbers"],
            json!([{"value": "3", "type": "home", "primary": true}])
        );
    }
    let replace_one = ops(
        json!([{"op": "replace", "path": "emails[value eq \"b@x.com\"].primary", "value": true}]),
    );
    patch(&reg, &mut doc, replace_one).unwrap();
    assert_eq!(primaries(&doc, "emails"), 1);
    assert_eq!(doc["emails"][1]["primary"], json!(true));
}

#[test]
fn a_path_less_replace_of_id_is_refused_unless_it_is_the_same_id() {
    let same = ops(json!([{"op": "replace", "value": {"id": "u1", "displayName": "X"}}]));
    let reg = Registry::embedded().unwrap();
    let parsed = parse_patch_request(&same, &Rules::rfc()).unwrap();
    check_resource_id(&parsed, "u1").unwrap();
    let err = check_resource_id(&parsed, "u2").unwrap_err();
    assert_eq!(err.scim_type, Some(crate::scim::ScimType::Mutability));
    let mut doc = user_doc(&reg);
    apply_patch(&reg.user, &mut doc, &parsed, &Rules::rfc()).unwrap();
    assert_eq!(doc["displayName"], "X");
}

#[test]
fn missing_or_mistyped_values_are_invalid_value_rfc7644_3_12() {
    let reg = Registry::embedded().unwrap();
    let code = |rules: &Rules, body: Value| {
        let mut doc = user_doc(&reg);
        let err = patch_with(rules, &reg, &mut doc, ops(body)).unwrap_err();
        err.scim_type.map(|t| t.as_str())
    };
    let rfc = Rules::rfc();
    for body in [
        json!([{"op": "replace", "path": "displayName"}]),
        json!([{"op": "add", "path": "emails[type eq \"work\"].value"}]),
        json!([{"op": "add"}]),
        json!([{"op": "add", "value": "x"}]),
        json!([{"op": "add", "path": "emails", "value": {"value": "b@x.com"}}]),
        json!([{"op": "replace", "path": "name", "value": ["x"]}]),
        json!([{"op": "replace", "path": "active", "value": "yes"}]),
    ] {
        assert_eq!(code(&rfc, body.clone()), Some("invalidValue"), "{body}");
    }
    let err = code(
        &rfc,
        json!([{"op": "Replace", "path": "displayName", "value": "X"}]),
    );
    assert_eq!(err, Some("invalidSyntax"));
    let mut doc = user_doc(&reg);
    let err = patch_with(
        &rfc,
        &reg,
        &mut doc,
        ops(json!([{"op": "Replace", "path": "x"}])),
    )
    .unwrap_err();
    assert!(!err.detail.contains("Some("), "{}", err.detail);
}

proptest::proptest! {
    #[test]
    fn never_panics_and_is_atomic(path in "[a-zA-Z.\\[\\]\" :=]{0,40}|\\PC{0,40}", op in "add|replace|remove|Add", v in proptest::option::of("[a-z]{0,5}")) {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        let before = doc.clone();
        let body = ops(json!([{"op": op, "path": path, "value": v}]));
        if patch(&reg, &mut doc, body).is_err() {
            proptest::prop_assert_eq!(doc, before);
        }
    }

    #[test]
    fn never_more_than_one_primary(picks in proptest::collection::vec((0usize..4, proptest::bool::ANY), 1..6)) {
        let reg = Registry::embedded().unwrap();
        let mut doc = normalize_resource(
            &reg.user,
            &json!({"userName": "a@x.com", "emails": [
                {"value": "a@x.com", "type": "work"}, {"value": "b@x.com", "type": "work"},
                {"value": "c@x.com", "type": "home"}, {"value": "d@x.com", "type": "other"}]}),
            &Rules::rfc(),
        ).unwrap();
        let paths = ["emails[type eq \"work\"]", "emails[type eq \"home\"]",
                     "emails[value eq \"d@x.com\"]", "emails[type eq \"work\" or type eq \"home\"]"];
        for (i, as_sub) in picks {
            let body = if as_sub {
                ops(json!([{"op": "add", "path": format!("{}.primary", paths[i]), "value": true}]))
            } else {
                ops(json!([{"op": "replace", "path": paths[i], "value": {"primary": true, "display": "d"}}]))
            };
            patch_with(&Rules::rfc(), &reg, &mut doc, body).unwrap();
            let primaries = doc["emails"].as_array().unwrap().iter()
                .filter(|v| v["primary"] == json!(true)).count();
            proptest::prop_assert_eq!(primaries, 1);
        }
    }
}
