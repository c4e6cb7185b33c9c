//! The submission form of an application, generated from its Boutiques descriptor: one
//! field per input (text, number, choice, checkbox, file from a space, list), and back
//! from the posted form to the parameters JSON the use case checks.

use std::collections::BTreeMap;

use medgrid_domain::catalog::{Descriptor, Input, InputType};
use serde_json::{Number, Value};

/// One input as the form shows it.
pub struct Field {
    pub id: String,
    /// The form control's name: `p.<input id>`.
    pub name: String,
    pub label: String,
    pub help: Option<String>,
    /// text, number, choice, flag, file or list.
    pub kind: &'static str,
    pub required: bool,
    /// What the control shows: the value entered, else the default.
    pub value: String,
    pub choices: Vec<Choice>,
    pub min: Option<String>,
    pub max: Option<String>,
    pub step: &'static str,
    pub error: Option<String>,
}

pub struct Choice {
    pub value: String,
    pub selected: bool,
}

impl Field {
    pub fn checked(&self) -> bool {
        self.value == "on"
    }

    pub fn control_id(&self) -> String {
        format!("in-{}", self.id)
    }
}

/// What a browser sent, by control name (a repeated name keeps its last value).
pub type Posted = BTreeMap<String, String>;

/// A JSON value as a form shows it.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join("\n"),
        Value::Bool(true) => "on".into(),
        Value::Null | Value::Bool(false) => String::new(),
        other => other.to_string(),
    }
}

fn kind(input: &Input) -> &'static str {
    match input.kind {
        InputType::Flag => "flag",
        _ if input.list => "list",
        _ if input.value_choices.is_some() => "choice",
        InputType::Number => "number",
        InputType::File => "file",
        InputType::String => "text",
    }
}

fn bound(b: Option<f64>) -> Option<String> {
    b.map(|v| Value::from(v).to_string().trim_end_matches(".0").to_owned())
}

/// The fields of `descriptor`, showing `values` (the parameters of a job being
/// resubmitted, or what was posted) or else the defaults, and `errors` by input id.
pub fn fields(
    descriptor: &Descriptor,
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, String>,
) -> Vec<Field> {
    descriptor
        .inputs
        .iter()
        .map(|input| {
            let value = values
                .get(&input.id)
                .cloned()
                .unwrap_or_else(|| input.default_value.as_ref().map(shown).unwrap_or_default());
            let choices = input
                .value_choices
                .iter()
                .flatten()
                .map(|c| Choice {
                    selected: shown(c) == value,
                    value: shown(c),
                })
                .collect();
            Field {
                name: format!("p.{}", input.id),
                label: input.name.clone(),
                help: input.description.clone(),
                kind: kind(input),
                required: !input.optional,
                choices,
                min: bound(input.minimum),
                max: bound(input.maximum),
                step: if input.integer { "1" } else { "any" },
                error: errors.get(&input.id).cloned(),
                id: input.id.clone(),
                value,
            }
        })
        .collect()
}

/// The values a job was submitted with, as the form shows them.
pub fn values_of(parameters: &Value) -> BTreeMap<String, String> {
    parameters
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), shown(v))).collect())
        .unwrap_or_default()
}

/// The posted values of the inputs, by input id (empty ones left out; a checkbox that
/// was not ticked is not sent at all).
pub fn posted_values(descriptor: &Descriptor, posted: &Posted) -> BTreeMap<String, String> {
    descriptor
        .inputs
        .iter()
        .filter_map(|i| {
            let v = posted.get(&format!("p.{}", i.id))?.trim();
            (!v.is_empty()).then(|| (i.id.clone(), v.to_owned()))
        })
        .collect()
}

/// One typed value of `input` from its text; Err says what is wrong, for the field.
fn typed(input: &Input, text: &str) -> Result<Value, String> {
    if let Some(choices) = &input.value_choices
        && let Some(choice) = choices.iter().find(|c| shown(c) == text)
    {
        return Ok(choice.clone());
    }
    match input.kind {
        InputType::Number => {
            let number: f64 = text.parse().map_err(|_| "must be a number".to_owned())?;
            if input.integer {
                text.parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| "must be a whole number".to_owned())
            } else {
                Number::from_f64(number)
                    .map(Value::Number)
                    .ok_or_else(|| "must be a finite number".to_owned())
            }
        }
        InputType::Flag => Ok(Value::Bool(true)),
        InputType::String | InputType::File => Ok(Value::String(text.to_owned())),
    }
}

/// The parameters JSON of the posted values, or the errors by input id. What the
/// descriptor's own rules say (ranges, choices, required) is left to the use case, which
/// answers with the field it is about.
pub fn parameters(
    descriptor: &Descriptor,
    values: &BTreeMap<String, String>,
) -> Result<Value, BTreeMap<String, String>> {
    let mut out = serde_json::Map::new();
    let mut errors = BTreeMap::new();
    for input in &descriptor.inputs {
        let Some(text) = values.get(&input.id) else {
            continue;
        };
        let value = if input.list && input.kind != InputType::Flag {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| typed(input, l))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        } else {
            typed(input, text)
        };
        match value {
            Ok(v) => {
                out.insert(input.id.clone(), v);
            }
            Err(e) => {
                errors.insert(input.id.clone(), e);
            }
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn descriptor() -> Descriptor {
        Descriptor::parse(&json!({
            "name": "seg", "tool-version": "1", "description": "d", "schema-version": "0.5",
            "command-line": "run [IMAGE] [METHOD] [CLASSES] [SIGMA] [FAST] [SEEDS]",
            "inputs": [
                {"id": "image", "name": "Image", "type": "File", "value-key": "[IMAGE]"},
                {"id": "method", "name": "Method", "type": "String", "value-key": "[METHOD]",
                 "value-choices": ["otsu", "fraction"], "default-value": "otsu", "optional": true},
                {"id": "classes", "name": "Classes", "type": "Number", "integer": true,
                 "minimum": 2, "maximum": 6, "default-value": 4, "value-key": "[CLASSES]", "optional": true},
                {"id": "sigma", "name": "Sigma", "type": "Number", "value-key": "[SIGMA]", "optional": true},
                {"id": "fast", "name": "Fast", "type": "Flag", "command-line-flag": "--fast",
                 "value-key": "[FAST]", "optional": true},
                {"id": "seeds", "name": "Seeds", "type": "Number", "list": true, "integer": true,
                 "value-key": "[SEEDS]", "optional": true}
            ]
        }))
        .expect("descriptor")
    }

    #[test]
    fn fields_show_defaults_kinds_and_bounds() {
        let f = fields(&descriptor(), &BTreeMap::new(), &BTreeMap::new());
        let kinds: Vec<&str> = f.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            ["file", "choice", "number", "number", "flag", "list"]
        );
        assert!(f[0].required && !f[1].required);
        assert_eq!(f[1].value, "otsu");
        assert!(f[1].choices[0].selected && !f[1].choices[1].selected);
        assert_eq!((f[2].value.as_str(), f[2].step), ("4", "1"));
        assert_eq!(
            (f[2].min.as_deref(), f[2].max.as_deref()),
            (Some("2"), Some("6"))
        );
        assert_eq!(f[3].step, "any");
    }

    #[test]
    fn posted_text_becomes_typed_parameters() {
        let d = descriptor();
        let posted: Posted = [
            ("p.image", "/home/brain.nii"),
            ("p.method", "fraction"),
            ("p.classes", "3"),
            ("p.sigma", " "),
            ("p.fast", "on"),
            ("p.seeds", "1\n2\n\n3"),
            ("other", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let values = posted_values(&d, &posted);
        assert!(!values.contains_key("sigma"), "blank is not given");
        let p = parameters(&d, &values).expect("parameters");
        assert_eq!(
            p,
            json!({"image": "/home/brain.nii", "method": "fraction", "classes": 3,
                   "fast": true, "seeds": [1, 2, 3]})
        );
    }

    #[test]
    fn bad_numbers_are_refused_beside_their_field_keeping_the_text() {
        let d = descriptor();
        let values: BTreeMap<String, String> = [("classes", "three"), ("sigma", "0.5")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let errors = parameters(&d, &values).expect_err("refused");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors["classes"], "must be a number");
        let f = fields(&d, &values, &errors);
        assert_eq!(f[2].value, "three");
        assert_eq!(f[2].error.as_deref(), Some("must be a number"));
    }
}
