//! Command lines built by Boutiques' templating rules: each value-key is replaced by the
//! input's flag and shell-quoted value(s), or removed when the input is inactive; output
//! paths come from their path-templates with input values substituted (file inputs by
//! their base name, listed extensions stripped).

use serde_json::Value;

use super::descriptor::{Descriptor, Input, InputType, Output};
use super::parameters::Parameters;

/// What an attempt runs, and where its outputs will be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub command: String,
    /// (output id, path relative to the work directory)
    pub outputs: Vec<(String, String)>,
}

/// Quotes a value for a POSIX shell: plain words stay as they are, anything else goes in
/// single quotes.
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn with_flag(flag: Option<&str>, separator: Option<&str>, value: &str) -> String {
    match flag {
        Some(flag) => format!("{flag}{}{value}", separator.unwrap_or(" ")),
        None => value.to_owned(),
    }
}

fn render_input(input: &Input, value: &Value) -> String {
    if input.kind == InputType::Flag {
        return input.command_line_flag.clone().unwrap_or_default();
    }
    let rendered = match value.as_array() {
        Some(items) => items
            .iter()
            .map(|v| shell_quote(&text(v)))
            .collect::<Vec<_>>()
            .join(input.list_separator.as_deref().unwrap_or(" ")),
        None => shell_quote(&text(value)),
    };
    with_flag(
        input.command_line_flag.as_deref(),
        input.command_line_flag_separator.as_deref(),
        &rendered,
    )
}

/// A value with the first matching extension removed.
fn stripped(value: &str, extensions: &[String]) -> String {
    extensions
        .iter()
        .find_map(|ext| value.strip_suffix(ext.as_str()))
        .unwrap_or(value)
        .to_owned()
}

/// The template with each value-key replaced by its rendering, in one pass: a value is
/// never searched for keys itself. With `tidy`, the spaces that removed keys leave are
/// collapsed in the template only, never inside a quoted value.
fn fill(template: &str, values: &[(&str, String)], tidy: bool) -> String {
    // marks where each value goes; a control character has no place in a command line
    const MARK: char = '\u{1}';
    let mut marked = template.replace(MARK, "");
    for (i, (key, value)) in values.iter().enumerate() {
        let mark = if value.is_empty() {
            String::new()
        } else {
            format!("{MARK}{i}{MARK}")
        };
        marked = marked.replace(key, &mark);
    }
    if tidy {
        marked = marked.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let mut command = String::with_capacity(marked.len());
    for (n, piece) in marked.split(MARK).enumerate() {
        if n % 2 == 0 {
            command.push_str(piece);
        } else if let Some((_, value)) = piece.parse::<usize>().ok().and_then(|i| values.get(i)) {
            command.push_str(value);
        }
    }
    command
}

impl Descriptor {
    fn output_path(&self, output: &Output, params: &Parameters) -> String {
        let mut values: Vec<(&str, String)> = Vec::new();
        for input in &self.inputs {
            let Some(key) = &input.value_key else {
                continue;
            };
            let replacement = match params.get(&input.id) {
                Some(v) if input.kind == InputType::File => {
                    let value = text(v);
                    let base = value.rsplit('/').next().unwrap_or(&value);
                    stripped(base, &output.path_template_stripped_extensions)
                }
                Some(v) => stripped(&text(v), &output.path_template_stripped_extensions),
                None => String::new(),
            };
            values.push((key, replacement));
        }
        fill(&output.path_template, &values, false)
    }

    /// Builds the command line of valid parameters.
    pub fn command_line(&self, params: &Parameters) -> CommandLine {
        let outputs: Vec<(String, String)> = self
            .output_files
            .iter()
            .map(|o| (o.id.clone(), self.output_path(o, params)))
            .collect();
        let mut values: Vec<(&str, String)> = Vec::new();
        for input in &self.inputs {
            let Some(key) = &input.value_key else {
                continue;
            };
            let rendered = params
                .get(&input.id)
                .map(|v| render_input(input, v))
                .unwrap_or_default();
            values.push((key, rendered));
        }
        for (output, (_, path)) in self.output_files.iter().zip(&outputs) {
            let Some(key) = &output.value_key else {
                continue;
            };
            let rendered = with_flag(
                output.command_line_flag.as_deref(),
                output.command_line_flag_separator.as_deref(),
                &shell_quote(path),
            );
            values.push((key, rendered));
        }
        CommandLine {
            command: fill(&self.command_line, &values, true),
            outputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::descriptor::tests::sample;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a.nii"), "a.nii");
        assert_eq!(shell_quote("my file"), "'my file'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn builds_the_command_line_and_output_paths() {
        let d = Descriptor::parse(&sample()).expect("valid");
        let p = d
            .parameters(&json!({"activity": "in/patient scan.nii.gz", "iterations": 12, "labels": ["liver", "kidney"]}))
            .expect("valid");
        let cl = d.command_line(&p);
        assert_eq!(
            cl.command,
            "dosecalc 'in/patient scan.nii.gz' --mode=fast -n 12 liver,kidney 'patient scan_dose.nii'"
        );
        assert_eq!(
            cl.outputs,
            vec![("dose".to_owned(), "patient scan_dose.nii".to_owned())]
        );
    }

    #[test]
    fn flags_and_absent_optionals() {
        let d = Descriptor::parse(&sample()).expect("valid");
        let p = d
            .parameters(&json!({"activity": "a.nii", "verbose": true, "mode": "accurate"}))
            .expect("valid");
        assert_eq!(
            d.command_line(&p).command,
            "dosecalc a.nii --mode=accurate -v a_dose.nii"
        );
        let p = d
            .parameters(&json!({"activity": "x;reboot"}))
            .expect("valid");
        assert_eq!(
            d.command_line(&p).command,
            "dosecalc 'x;reboot' --mode=fast 'x;reboot_dose.nii'"
        );
    }

    #[test]
    fn spaces_inside_values_and_keys_inside_values_are_kept() {
        let d = Descriptor::parse(&sample()).expect("valid");
        let p = d
            .parameters(&json!({"activity": "two  spaces [ITER].nii"}))
            .expect("valid");
        assert_eq!(
            d.command_line(&p).command,
            "dosecalc 'two  spaces [ITER].nii' --mode=fast 'two  spaces [ITER]_dose.nii'"
        );
    }
}
