//! Checking a job's parameters against its application's descriptor, before any job exists.

use std::collections::BTreeMap;

use serde_json::Value;

use super::descriptor::{Descriptor, Input, InputType};
use crate::error::{Code, Coded};

/// Parameters refused, with the input that is wrong (`parameters.iterations`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParameterError {
    pub field: String,
    pub message: String,
}

impl Coded for ParameterError {
    fn code(&self) -> Code {
        Code::InvalidInput
    }
}

/// Valid parameters: the active inputs and their values, defaults filled in. A Flag set
/// to false is inactive, like one not given.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameters(BTreeMap<String, Value>);

impl Parameters {
    pub fn get(&self, id: &str) -> Option<&Value> {
        self.0.get(id)
    }

    pub fn is_active(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    pub fn as_json(&self) -> Value {
        Value::Object(self.0.clone().into_iter().collect())
    }
}

fn fail(input: &str, message: impl Into<String>) -> ParameterError {
    ParameterError {
        field: format!("parameters.{input}"),
        message: message.into(),
    }
}

/// Checks one value (or list) against an input's type and constraints.
pub(crate) fn check_value(input: &Input, value: &Value) -> Result<(), String> {
    if input.list {
        let Some(items) = value.as_array() else {
            return Err("must be a list".into());
        };
        let n = items.len() as u64;
        if let Some(min) = input.min_list_entries
            && n < min
        {
            return Err(format!("needs at least {min} entries"));
        }
        if let Some(max) = input.max_list_entries
            && n > max
        {
            return Err(format!("takes at most {max} entries"));
        }
        return items.iter().try_for_each(|item| check_one(input, item));
    }
    check_one(input, value)
}

fn check_one(input: &Input, value: &Value) -> Result<(), String> {
    match input.kind {
        InputType::Flag if !value.is_boolean() => return Err("must be true or false".into()),
        InputType::String | InputType::File if !value.is_string() => {
            return Err("must be a string".into());
        }
        InputType::File => check_path(value.as_str().unwrap_or_default())?,
        // a NUL cannot be in a program's argument (C strings end there): refused rather
        // than cut. Invalid UTF-8 cannot get this far: values are Rust strings parsed by
        // serde_json, which refuses a lone surrogate escape like "\ud800".
        InputType::String if value.as_str().is_some_and(|s| s.contains('\0')) => {
            return Err("must not contain NUL characters".into());
        }
        InputType::Number => check_number(input, value)?,
        _ => {}
    }
    if let Some(choices) = &input.value_choices
        && !choices.iter().any(|c| same_value(c, value))
    {
        let list: Vec<String> = choices.iter().map(Value::to_string).collect();
        return Err(format!("must be one of {}", list.join(", ")));
    }
    Ok(())
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.contains('\0') || path.chars().any(char::is_control) {
        return Err("must be a file path without control characters".into());
    }
    Ok(())
}

fn check_number(input: &Input, value: &Value) -> Result<(), String> {
    let Some(x) = value.as_f64() else {
        return Err("must be a number".into());
    };
    if input.integer && x.fract() != 0.0 {
        return Err("must be an integer".into());
    }
    if let Some(min) = input.minimum {
        let below = if input.exclusive_minimum {
            x <= min
        } else {
            x < min
        };
        if below {
            let op = if input.exclusive_minimum { ">" } else { ">=" };
            return Err(format!("must be {op} {min}"));
        }
    }
    if let Some(max) = input.maximum {
        let above = if input.exclusive_maximum {
            x >= max
        } else {
            x > max
        };
        if above {
            let op = if input.exclusive_maximum { "<" } else { "<=" };
            return Err(format!("must be {op} {max}"));
        }
    }
    Ok(())
}

impl Descriptor {
    /// Validates parameters given as a JSON object keyed by input id.
    pub fn parameters(&self, given: &Value) -> Result<Parameters, ParameterError> {
        let Some(given) = given.as_object() else {
            return Err(ParameterError {
                field: "parameters".into(),
                message: "must be an object keyed by input id".into(),
            });
        };
        if let Some(unknown) = given.keys().find(|k| self.input(k).is_none()) {
            return Err(fail(unknown, "no such input"));
        }
        let mut active = BTreeMap::new();
        for input in &self.inputs {
            let value = match given.get(&input.id) {
                Some(Value::Null) | None => input.default(),
                Some(v) => Some(v.clone()),
            };
            match value {
                Some(v) => {
                    check_value(input, &v).map_err(|m| fail(&input.id, m))?;
                    if v != Value::Bool(false) {
                        active.insert(input.id.clone(), v);
                    }
                }
                None if !input.optional => return Err(fail(&input.id, "is required")),
                None => {}
            }
        }
        let params = Parameters(active);
        self.check_relations(&params)?;
        Ok(params)
    }

    fn members_of<'a>(&'a self, id: &'a str) -> Vec<&'a str> {
        match self.groups.iter().find(|g| g.id == id) {
            Some(group) => group.members.iter().map(String::as_str).collect(),
            None => vec![id],
        }
    }

    fn check_relations(&self, params: &Parameters) -> Result<(), ParameterError> {
        for input in self.inputs.iter().filter(|i| params.is_active(&i.id)) {
            for required in &input.requires_inputs {
                if let Some(missing) = self
                    .members_of(required)
                    .into_iter()
                    .find(|m| !params.is_active(m))
                {
                    return Err(fail(&input.id, format!("requires {missing}")));
                }
            }
            for disabled in &input.disables_inputs {
                if let Some(clash) = self
                    .members_of(disabled)
                    .into_iter()
                    .find(|m| params.is_active(m))
                {
                    return Err(fail(&input.id, format!("cannot be used with {clash}")));
                }
            }
        }
        for group in &self.groups {
            let on: Vec<&str> = group
                .members
                .iter()
                .map(String::as_str)
                .filter(|m| params.is_active(m))
                .collect();
            let field = || format!("parameters ({})", group.members.join(", "));
            if group.mutually_exclusive && on.len() > 1 {
                return Err(ParameterError {
                    field: field(),
                    message: format!("only one of {} may be given", group.name),
                });
            }
            if group.one_is_required && on.is_empty() {
                return Err(ParameterError {
                    field: field(),
                    message: format!("one of {} is required", group.name),
                });
            }
            if group.all_or_none && !on.is_empty() && on.len() != group.members.len() {
                return Err(ParameterError {
                    field: field(),
                    message: format!("{} go together: give all or none", group.name),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::descriptor::tests::sample;

    fn descriptor() -> Descriptor {
        Descriptor::parse(&sample()).expect("valid")
    }

    #[test]
    fn defaults_fill_in_and_false_flags_are_inactive() {
        let p = descriptor()
            .parameters(&json!({"activity": "in/act.nii.gz", "verbose": false}))
            .expect("valid");
        assert_eq!(p.get("mode"), Some(&json!("fast")));
        assert!(!p.is_active("verbose"));
        assert!(!p.is_active("iterations"));
    }

    #[test]
    fn each_rule_names_the_input() {
        let d = descriptor();
        for (params, field, words) in [
            (json!({}), "parameters.activity", "required"),
            (
                json!({"activity": "a", "ghost": 1}),
                "parameters.ghost",
                "no such input",
            ),
            (json!({"activity": 3}), "parameters.activity", "string"),
            (
                json!({"activity": "a\u{0}b"}),
                "parameters.activity",
                "control",
            ),
            (
                json!({"activity": "a", "labels": ["ok", "a\u{0}b"]}),
                "parameters.labels",
                "NUL",
            ),
            (
                json!({"activity": "a", "iterations": 2.5}),
                "parameters.iterations",
                "integer",
            ),
            (
                json!({"activity": "a", "iterations": 0}),
                "parameters.iterations",
                ">= 1",
            ),
            (
                json!({"activity": "a", "iterations": 101}),
                "parameters.iterations",
                "<= 100",
            ),
            (
                json!({"activity": "a", "iterations": "5"}),
                "parameters.iterations",
                "number",
            ),
            (
                json!({"activity": "a", "mode": "slow"}),
                "parameters.mode",
                "one of",
            ),
            (
                json!({"activity": "a", "verbose": "yes"}),
                "parameters.verbose",
                "true or false",
            ),
            (
                json!({"activity": "a", "labels": []}),
                "parameters.labels",
                "at least 1",
            ),
            (
                json!({"activity": "a", "labels": ["a", "b", "c", "d"]}),
                "parameters.labels",
                "at most 3",
            ),
            (
                json!({"activity": "a", "labels": "x"}),
                "parameters.labels",
                "list",
            ),
            (
                json!({"activity": "a", "labels": ["x"], "verbose": true}),
                "parameters (verbose, labels)",
                "only one",
            ),
        ] {
            let e = d.parameters(&params).expect_err("refused");
            assert_eq!(e.field, field, "{params}: {e}");
            assert!(e.message.contains(words), "{params}: {e}");
        }
        assert!(d.parameters(&json!([])).is_err());
    }

    /// Invalid UTF-8 never reaches `parameters`: serde_json refuses a lone surrogate.
    #[test]
    fn a_lone_surrogate_is_refused_by_parsing() {
        assert!(serde_json::from_str::<Value>(r#"{"labels": ["\ud800"]}"#).is_err());
        assert!(serde_json::from_str::<Value>(r#"{"labels": ["\ud83d\ude00"]}"#).is_ok());
    }

    #[test]
    fn requires_disables_and_group_rules() {
        let mut doc = sample();
        doc["inputs"][2]["requires-inputs"] = json!(["mode"]);
        doc["inputs"][1]["default-value"] = Value::Null;
        doc["inputs"][3]["disables-inputs"] = json!(["iterations"]);
        doc["groups"] = json!([
            {"id": "pair", "name": "Pair", "members": ["mode", "iterations"], "all-or-none": true},
            {"id": "need", "name": "Need", "members": ["verbose", "labels"], "one-is-required": true}
        ]);
        let d = Descriptor::parse(&doc).expect("valid");
        let e = d
            .parameters(&json!({"activity": "a", "iterations": 3, "verbose": true}))
            .expect_err("x");
        assert!(e.message.contains("requires mode"), "{e}");
        let e = d
            .parameters(&json!({"activity": "a", "mode": "fast", "iterations": 3, "verbose": true}))
            .expect_err("x");
        assert!(e.message.contains("cannot be used with iterations"), "{e}");
        let e = d
            .parameters(&json!({"activity": "a", "mode": "fast", "labels": ["l"]}))
            .expect_err("x");
        assert!(e.message.contains("all or none"), "{e}");
        let e = d.parameters(&json!({"activity": "a"})).expect_err("x");
        assert!(e.message.contains("one of Need is required"), "{e}");
        assert!(
            d.parameters(&json!({"activity": "a", "labels": ["l"]}))
                .is_ok()
        );
    }
}
