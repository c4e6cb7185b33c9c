//! Parsing and validating a Boutiques descriptor. Structural errors come from serde with
//! the path of the offending field; the rules JSON Schema cannot express (unique ids,
//! value-keys present in the command line, references between inputs) are checked after.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::image::ContainerImage;
use crate::error::{Code, Coded};

/// A descriptor refused, with the field that is wrong (`inputs[2].type`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("descriptor {field}: {message}")]
pub struct DescriptorError {
    pub field: String,
    pub message: String,
}

impl Coded for DescriptorError {
    fn code(&self) -> Code {
        Code::InvalidInput
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> DescriptorError {
    DescriptorError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputType {
    String,
    File,
    Flag,
    Number,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Input {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: InputType,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub value_key: Option<String>,
    #[serde(default)]
    pub list: bool,
    #[serde(default)]
    pub list_separator: Option<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub command_line_flag: Option<String>,
    #[serde(default)]
    pub command_line_flag_separator: Option<String>,
    #[serde(default)]
    pub requires_inputs: Vec<String>,
    #[serde(default)]
    pub disables_inputs: Vec<String>,
    #[serde(default)]
    pub default_value: Option<Value>,
    #[serde(default)]
    pub value_choices: Option<Vec<Value>>,
    #[serde(default)]
    pub value_requires: Option<Value>,
    #[serde(default)]
    pub value_disables: Option<Value>,
    #[serde(default)]
    pub integer: bool,
    #[serde(default)]
    pub minimum: Option<f64>,
    #[serde(default)]
    pub maximum: Option<f64>,
    #[serde(default)]
    pub exclusive_minimum: bool,
    #[serde(default)]
    pub exclusive_maximum: bool,
    #[serde(default)]
    pub min_list_entries: Option<u64>,
    #[serde(default)]
    pub max_list_entries: Option<u64>,
    #[serde(default)]
    pub uses_absolute_path: bool,
}

impl Input {
    /// The default value: a single value of a list input is that list of one (published
    /// descriptors write them so, and `bosh validate` accepts them).
    pub fn default(&self) -> Option<Value> {
        let value = self.default_value.clone()?;
        match (self.list, value) {
            (true, Value::Null) => None,
            (true, Value::Array(items)) => Some(Value::Array(items)),
            (true, single) => Some(Value::Array(vec![single])),
            (false, value) => Some(value),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Output {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub value_key: Option<String>,
    pub path_template: String,
    #[serde(default)]
    pub path_template_stripped_extensions: Vec<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub list: bool,
    #[serde(default)]
    pub command_line_flag: Option<String>,
    #[serde(default)]
    pub command_line_flag_separator: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub members: Vec<String>,
    #[serde(default)]
    pub mutually_exclusive: bool,
    #[serde(default)]
    pub one_is_required: bool,
    #[serde(default)]
    pub all_or_none: bool,
}

/// A valid Boutiques 0.5 descriptor. Fields Medgrid does not use (tests, DOIs, a container
/// image's `entrypoint`, `container-opts` and `working-directory`…) stay in the JSON the
/// catalog keeps; they are not interpreted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Descriptor {
    pub name: String,
    pub description: String,
    pub tool_version: String,
    pub schema_version: String,
    pub command_line: String,
    pub inputs: Vec<Input>,
    #[serde(default)]
    pub output_files: Vec<Output>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub suggested_resources: Option<Value>,
    #[serde(default)]
    pub environment_variables: Vec<EnvironmentVariable>,
    /// The image the tool runs in; without one, the platform's base (the host's /usr).
    #[serde(default)]
    pub container_image: Option<ContainerImage>,
    /// The shell that runs the command line (an absolute path in the image); `/bin/sh`
    /// when not given.
    #[serde(default)]
    pub shell: Option<String>,
}

/// A variable of the environment the tool runs in (its value is taken as it is: no
/// expansion of other variables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentVariable {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub description: Option<String>,
}

const REQUIRED: [&str; 6] = [
    "name",
    "description",
    "tool-version",
    "schema-version",
    "command-line",
    "inputs",
];

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Descriptor {
    /// Parses and validates a descriptor given as JSON.
    pub fn parse(json: &Value) -> Result<Self, DescriptorError> {
        let Some(object) = json.as_object() else {
            return Err(err("(root)", "must be a JSON object"));
        };
        if let Some(missing) = REQUIRED.iter().find(|k| !object.contains_key(**k)) {
            return Err(err(*missing, "is required"));
        }
        let descriptor: Self = serde_path_to_error::deserialize(json).map_err(|e| {
            let path = e.path().to_string();
            err(path, e.into_inner().to_string())
        })?;
        descriptor.check()?;
        Ok(descriptor)
    }

    fn check(&self) -> Result<(), DescriptorError> {
        if self.schema_version != "0.5" {
            return Err(err("schema-version", "must be \"0.5\""));
        }
        for (field, value) in [
            ("name", &self.name),
            ("description", &self.description),
            ("tool-version", &self.tool_version),
            ("command-line", &self.command_line),
        ] {
            if value.trim().is_empty() {
                return Err(err(field, "must not be empty"));
            }
        }
        if self.inputs.is_empty() {
            return Err(err("inputs", "must list at least one input"));
        }
        let mut ids = BTreeSet::new();
        for (i, input) in self.inputs.iter().enumerate() {
            let at = format!("inputs[{i}]");
            if !valid_id(&input.id) {
                return Err(err(format!("{at}.id"), "must be letters, digits and '_'"));
            }
            if !ids.insert(input.id.as_str()) {
                return Err(err(
                    format!("{at}.id"),
                    format!("{:?} is used twice", input.id),
                ));
            }
            self.check_input(&at, input)?;
        }
        for (i, input) in self.inputs.iter().enumerate() {
            for (field, refs) in [
                ("requires-inputs", &input.requires_inputs),
                ("disables-inputs", &input.disables_inputs),
            ] {
                let group_ids: BTreeSet<&str> = self.groups.iter().map(|g| g.id.as_str()).collect();
                if let Some(unknown) = refs
                    .iter()
                    .find(|r| !ids.contains(r.as_str()) && !group_ids.contains(r.as_str()))
                {
                    return Err(err(
                        format!("inputs[{i}].{field}"),
                        format!("no input {unknown:?}"),
                    ));
                }
            }
        }
        for (i, output) in self.output_files.iter().enumerate() {
            let at = format!("output-files[{i}]");
            if !valid_id(&output.id) {
                return Err(err(format!("{at}.id"), "must be letters, digits and '_'"));
            }
            if !ids.insert(output.id.as_str()) {
                return Err(err(
                    format!("{at}.id"),
                    format!("{:?} is used twice", output.id),
                ));
            }
            if output.path_template.trim().is_empty() {
                return Err(err(format!("{at}.path-template"), "must not be empty"));
            }
            if output.path_template.starts_with('/')
                || output.path_template.split('/').any(|p| p == "..")
            {
                return Err(err(
                    format!("{at}.path-template"),
                    "must stay inside the job's directory",
                ));
            }
            if let Some(key) = &output.value_key
                && !self.command_line.contains(key.as_str())
            {
                return Err(err(
                    format!("{at}.value-key"),
                    format!("{key:?} is not in command-line"),
                ));
            }
        }
        for (i, variable) in self.environment_variables.iter().enumerate() {
            let mut chars = variable.name.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(err(
                    format!("environment-variables[{i}].name"),
                    "must be a letter, then letters, digits and '_'",
                ));
            }
            if variable.value.contains('\0') {
                return Err(err(
                    format!("environment-variables[{i}].value"),
                    "must not contain a NUL character",
                ));
            }
        }
        if let Some(shell) = &self.shell {
            let plain = shell.starts_with('/')
                && shell.len() <= 255
                && shell.chars().all(|c| c.is_ascii_graphic() && c != '\\');
            if !plain || shell.split('/').any(|part| part == "..") {
                return Err(err("shell", "must be an absolute path such as /bin/bash"));
            }
        }
        if let Some(image) = &self.container_image {
            image
                .reference()
                .map_err(|e| err(format!("container-image.{}", e.field), e.message))?;
        }
        for (g, group) in self.groups.iter().enumerate() {
            if let Some(unknown) = group
                .members
                .iter()
                .find(|m| !self.inputs.iter().any(|i| &i.id == *m))
            {
                return Err(err(
                    format!("groups[{g}].members"),
                    format!("no input {unknown:?}"),
                ));
            }
        }
        Ok(())
    }

    fn check_input(&self, at: &str, input: &Input) -> Result<(), DescriptorError> {
        let field = |name: &str| format!("{at}.{name}");
        if let Some(key) = &input.value_key
            && !self.command_line.contains(key.as_str())
        {
            return Err(err(
                field("value-key"),
                format!("{key:?} is not in command-line"),
            ));
        }
        let is_number = input.kind == InputType::Number;
        if input.kind == InputType::Flag {
            if input.list {
                return Err(err(field("list"), "a Flag cannot be a list"));
            }
            if input.command_line_flag.is_none() {
                return Err(err(field("command-line-flag"), "is required for a Flag"));
            }
        }
        if input.value_choices.is_some()
            && !matches!(input.kind, InputType::String | InputType::Number)
        {
            return Err(err(
                field("value-choices"),
                "only for String and Number inputs",
            ));
        }
        if let Some(choices) = &input.value_choices {
            if choices.is_empty() {
                return Err(err(field("value-choices"), "must not be empty"));
            }
            if let Some(bad) = choices.iter().find(|c| !(c.is_string() || c.is_number())) {
                return Err(err(
                    field("value-choices"),
                    format!("{bad} is not a string or number"),
                ));
            }
        }
        for (name, used) in [
            ("integer", input.integer),
            ("minimum", input.minimum.is_some()),
            ("maximum", input.maximum.is_some()),
        ] {
            if used && !is_number {
                return Err(err(field(name), "only for Number inputs"));
            }
        }
        if let (Some(min), Some(max)) = (input.minimum, input.maximum)
            && min > max
        {
            return Err(err(field("minimum"), "is greater than maximum"));
        }
        if input.exclusive_minimum && input.minimum.is_none() {
            return Err(err(field("exclusive-minimum"), "needs minimum"));
        }
        if input.exclusive_maximum && input.maximum.is_none() {
            return Err(err(field("exclusive-maximum"), "needs maximum"));
        }
        for (name, used) in [
            ("list-separator", input.list_separator.is_some()),
            ("min-list-entries", input.min_list_entries.is_some()),
            ("max-list-entries", input.max_list_entries.is_some()),
        ] {
            if used && !input.list {
                return Err(err(field(name), "only for list inputs"));
            }
        }
        if let (Some(min), Some(max)) = (input.min_list_entries, input.max_list_entries)
            && min > max
        {
            return Err(err(
                field("min-list-entries"),
                "is greater than max-list-entries",
            ));
        }
        if input.command_line_flag_separator.is_some() && input.command_line_flag.is_none() {
            return Err(err(
                field("command-line-flag-separator"),
                "needs command-line-flag",
            ));
        }
        if input.uses_absolute_path && input.kind != InputType::File {
            return Err(err(field("uses-absolute-path"), "only for File inputs"));
        }
        if let Some(default) = input.default() {
            crate::catalog::parameters::check_value(input, &default)
                .map_err(|message| err(field("default-value"), message))?;
        }
        Ok(())
    }

    pub fn input(&self, id: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.id == id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    /// A small but complete descriptor used across the catalog's tests.
    pub fn sample() -> Value {
        json!({
            "name": "dose-calc",
            "description": "Absorbed dose from an activity map",
            "tool-version": "1.2",
            "schema-version": "0.5",
            "command-line": "dosecalc [ACTIVITY] [MODE] [ITER] [VERBOSE] [LABELS] [OUT]",
            "inputs": [
                {"id": "activity", "name": "Activity map", "type": "File", "value-key": "[ACTIVITY]"},
                {"id": "mode", "name": "Mode", "type": "String", "value-key": "[MODE]",
                 "command-line-flag": "--mode", "command-line-flag-separator": "=",
                 "value-choices": ["fast", "accurate"], "default-value": "fast", "optional": true},
                {"id": "iterations", "name": "Iterations", "type": "Number", "value-key": "[ITER]",
                 "command-line-flag": "-n", "integer": true, "minimum": 1, "maximum": 100, "optional": true},
                {"id": "verbose", "name": "Verbose", "type": "Flag", "value-key": "[VERBOSE]",
                 "command-line-flag": "-v", "optional": true},
                {"id": "labels", "name": "Labels", "type": "String", "value-key": "[LABELS]", "list": true,
                 "list-separator": ",", "min-list-entries": 1, "max-list-entries": 3, "optional": true}
            ],
            "output-files": [
                {"id": "dose", "name": "Dose map", "value-key": "[OUT]",
                 "path-template": "[ACTIVITY]_dose.nii", "path-template-stripped-extensions": [".nii.gz", ".nii"]}
            ],
            "groups": [
                {"id": "detail", "name": "Detail", "members": ["verbose", "labels"], "mutually-exclusive": true}
            ]
        })
    }

    #[test]
    fn the_sample_is_valid() {
        let d = Descriptor::parse(&sample()).expect("valid");
        assert_eq!(d.inputs.len(), 5);
        assert_eq!(d.input("mode").map(|i| i.kind), Some(InputType::String));
    }

    /// Sets (or with `None` removes) the value at a JSON pointer of the sample.
    fn edited(pointer: &str, value: Option<Value>) -> Value {
        let mut doc = sample();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        let target = doc.pointer_mut(parent).expect("parent exists");
        match (target, value) {
            (Value::Object(o), Some(v)) => {
                o.insert(key.to_owned(), v);
            }
            (Value::Object(o), None) => {
                o.remove(key);
            }
            _ => panic!("cannot edit {pointer}"),
        }
        doc
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("/tool-version", None, "tool-version"),
            ("/schema-version", Some(json!("0.4")), "schema-version"),
            ("/inputs/2/type", Some(json!("Integer")), "inputs[2].type"),
            ("/inputs/0/colour", Some(json!("red")), "inputs[0].colour"),
            ("/inputs/1/id", Some(json!("activity")), "inputs[1].id"),
            ("/inputs/0/id", Some(json!("bad id")), "inputs[0].id"),
            (
                "/inputs/0/value-key",
                Some(json!("[NOPE]")),
                "inputs[0].value-key",
            ),
            ("/inputs/3/list", Some(json!(true)), "inputs[3].list"),
            (
                "/inputs/3/command-line-flag",
                None,
                "inputs[3].command-line-flag",
            ),
            ("/inputs/0/minimum", Some(json!(1)), "inputs[0].minimum"),
            ("/inputs/2/minimum", Some(json!(500)), "inputs[2].minimum"),
            (
                "/inputs/0/value-choices",
                Some(json!(["a"])),
                "inputs[0].value-choices",
            ),
            (
                "/inputs/1/default-value",
                Some(json!("slow")),
                "inputs[1].default-value",
            ),
            (
                "/inputs/0/list-separator",
                Some(json!(";")),
                "inputs[0].list-separator",
            ),
            (
                "/inputs/0/requires-inputs",
                Some(json!(["ghost"])),
                "inputs[0].requires-inputs",
            ),
            (
                "/groups/0/members",
                Some(json!(["ghost"])),
                "groups[0].members",
            ),
            (
                "/output-files/0/path-template",
                Some(json!("../escape")),
                "output-files[0].path-template",
            ),
            ("/inputs", Some(json!([])), "inputs"),
        ];
        for (pointer, value, field) in cases {
            let e = Descriptor::parse(&edited(pointer, value)).expect_err(pointer);
            assert_eq!(e.field, field, "{pointer}: {e}");
        }
    }

    #[test]
    fn not_an_object_is_refused() {
        assert_eq!(
            Descriptor::parse(&json!([1])).expect_err("refused").field,
            "(root)"
        );
    }
}
